"""The trainer process: follow transactions and labels, retrain on schedule, register, broadcast.

It reads both topics from the beginning without a consumer group (it needs the history, not a share
of it) and keeps the last ``horizon_days`` of event time in memory, behind a stream clock a minority
of forged event times cannot move, with the scorer's bounds on what it takes in (see
:mod:`trainer.history`). It retrains once it has caught up with the topics, then after
``retrain_every_labels`` new labels or ``retrain_every_days`` of event time, whichever comes first,
in a worker thread so consumption goes on. A promoted version is
announced on ``model-events``. It also follows ``model-events`` (from its end) for the scorers'
drift alarms: they are counted, and with ``trainer_retrain_on_drift`` each one calls for a retrain,
at most once per ``trainer_drift_cooldown_s``. What it does is exported in :class:`TrainerMetrics`.
A failed retrain is logged and counted; the trainer goes on following the topics.

With ``trainer_cache_dir``, what it read is kept on disk (:mod:`trainer.history_cache`): loaded
before the first read, so only the offsets after the cached positions are read, and written after
catching up and at each retrain. A cache that does not match or fails a check is logged, counted and
ignored: the topics are then read from the beginning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fraudcore.columnar.decoding import decode_labels, decode_transactions
from fraudcore.features.definition import DAY_MS, FEATURE_NAMES
from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.kafka_security import client_options
from fraudcore.models import (
    CHAMPION,
    ModelBundle,
    ModelLoadError,
    ModelLoadFailure,
    load_alias,
    resolve_alias,
    verification_keys,
)
from fraudcore.settings import Settings
from schemas.topics import Topics
from trainer.drift_trigger import DriftTrigger
from trainer.history import FUTURE_TOLERANCE_MS, History, Snapshot
from trainer.history_cache import (
    CacheBusy,
    CacheIdentity,
    CacheRefused,
    HistoryCache,
    Position,
    cache_key,
    check_positions,
)
from trainer.metrics import DROPPED, Result, TrainerMetrics, Trigger
from trainer.model_events import KafkaModelEvents, ModelEventSource
from trainer.publishing import Registered, register_outcome, reload_event, send_model_event
from trainer.training import TrainingConfig, TrainingOutcome, build_dataset, train_and_evaluate

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["NotEnoughHistory", "RetrainReport", "Trainer"]

log = logging.getLogger(__name__)

_POLL_RECORDS = 20_000
"""Records one poll returns at most: one batch of the history, whose clock observes each (:mod:`trainer.history`)."""


class NotEnoughHistory(Exception):
    """The history does not yet cover the prequential windows."""


@dataclass(frozen=True)
class RetrainReport:
    """What one retrain produced."""

    at: datetime
    """The stream clock the retrain saw (the median of recent event times, see :mod:`trainer.history`)."""
    transactions: int
    labelled: int
    outcome: TrainingOutcome
    registered: Registered

    def summary(self) -> str:
        """One paragraph for the terminal."""
        fold = self.outcome.folds[0].fold
        action = (
            f"promoted version {self.registered.version} to champion"
            + (f" (was {self.registered.previous_champion})" if self.registered.previous_champion else "")
            if self.registered.promoted
            else f"registered version {self.registered.version} as challenger"
        )
        return (
            f"retrain at {self.at:%Y-%m-%d %H:%M}: {self.transactions:,} transactions ({self.labelled:,} labelled); "
            f"trained on days {fold.train_first_day}-{fold.train_last_day}, tested on {fold.test_first_day}-"
            f"{fold.test_last_day}; {self.outcome.reason}; {action}"
        )


class Trainer:
    """Keeps the history, retrains, registers and broadcasts."""

    def __init__(
        self,
        settings: Settings,
        topics: Topics,
        client_factory: Callable[[], MlflowClient],
        config: TrainingConfig,
        *,
        metrics: TrainerMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.config = config
        self.history = History(spec=config.spec)
        self.metrics = metrics or TrainerMetrics()
        self.metrics.history_transactions.set_function(lambda: len(self.history))
        self._events = {
            (kind, outcome): self.metrics.events.labels(kind, outcome)
            for kind in ("transaction", "label")
            for outcome in ("accepted", "invalid")
        }
        self._dropped = {key: self.metrics.dropped.labels(*key) for key in DROPPED}
        self._dropped_counted: dict[tuple[str, str], int] = {}
        self.metrics.labels_waiting.set_function(lambda: self.history.waiting_labels)
        self.drift = DriftTrigger(
            settings.model_name,
            self.metrics,
            enabled=settings.trainer_retrain_on_drift,
            cooldown_s=settings.trainer_drift_cooldown_s,
            clock=clock,
        )
        self._drift_requested = False
        self._clock = clock
        self._client_factory = client_factory
        self._client: MlflowClient | None = None
        self._labels_at_last_retrain = 0
        self._clock_at_last_retrain = 0
        self.caught_up = False
        self._label_fronts: dict[TopicPartition, int] = {}
        """The latest label time read from each labels partition (see :meth:`_pace_labels`)."""
        """Whether the history holds everything the topics held when following began."""
        self.reports: list[RetrainReport] = []
        self.positions: dict[Position, int] = {}
        """The next offset to read per (topic, partition): reading starts there, else at the beginning."""
        self._cache = self._history_cache()
        self._cache_tried = False

    # -- consuming -------------------------------------------------------------------------------

    def _consumer(self) -> AIOKafkaConsumer:
        return groupless_consumer(
            self.settings, auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024
        )

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        partitions = await topic_partitions(consumer, [self.topics.transactions, self.topics.labels])
        consumer.assign(partitions)
        await self._load_cache(consumer, partitions)
        for tp in partitions:
            position = self.positions.get((tp.topic, tp.partition))
            if position is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, position)
        return partitions

    def _absorb_all(self, batches: Mapping[TopicPartition, Sequence[Any]]) -> int:
        """Add what one poll read: the transactions of every partition as one batch (the clock
        observes them together, see :mod:`trainer.history`), then the labels; how many records."""
        parts = [(tp, part) for tp, part in batches.items() if tp.topic == self.topics.transactions and part]
        if parts:
            self._absorb(self.topics.transactions, [record for _, part in parts for record in part])
        parts = [(tp, part) for tp, part in batches.items() if tp.topic == self.topics.labels and part]
        if parts:
            fronts = self._absorb(self.topics.labels, [record for _, part in parts for record in part])
            sizes = np.cumsum([len(part) for _, part in parts])
            for number, (tp, _) in enumerate(parts):
                start = 0 if number == 0 else int(sizes[number - 1])
                front = fronts[start : int(sizes[number])]
                if len(front):
                    self._label_fronts[tp] = int(front.max())
        for tp, part in batches.items():
            if part:
                self.positions[tp.topic, tp.partition] = part[-1].offset + 1
        return sum(len(part) for part in batches.values())

    def _absorb(self, topic: str, records: Sequence[Any]) -> npt.NDArray[np.int64]:
        """Add a batch of one topic's records to the history; count the valid and invalid ones, and
        what the history dropped. Returns, per record, the label time of a valid label (else 0)."""
        now = datetime.now(UTC)
        history = self.history
        corrections = history.label_corrections
        values = [record.value for record in records]
        fronts = np.zeros(len(records), dtype=np.int64)
        if topic == self.topics.transactions:
            kind = "transaction"
            transactions, rejected = decode_transactions(values, now=now)
            history.add_transaction_columns(transactions)
        else:
            kind = "label"
            labels, rejected = decode_labels(values, now=now)
            history.add_label_columns(labels)
            fronts[labels.index] = labels.labeled_at_ms
        self.metrics.label_corrections.inc(history.label_corrections - corrections)
        self._events[kind, "accepted"].inc(len(records) - len(rejected))
        self._events[kind, "invalid"].inc(len(rejected))
        self._count_drops()
        return fronts

    async def _pace_labels(self, consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> None:
        """While catching up, pause each labels partition whose latest label is dated beyond what the
        history takes now (the clock plus the tolerance), until the transactions catch up with it:
        read in equal measure, the labels topic runs days ahead of the transactions and its labels
        would wait (or, beyond the bound, be refused). Once the transactions are read, all resume."""
        transactions = [tp for tp in ends if tp.topic == self.topics.transactions]
        done = all([await consumer.position(tp) >= ends[tp] for tp in transactions])
        limit = self.history.clock_ms + FUTURE_TOLERANCE_MS
        for tp, front in self._label_fronts.items():
            if not done and front > limit:
                consumer.pause(tp)
            else:
                consumer.resume(tp)

    def _drop_tallies(self) -> dict[tuple[str, str], int]:
        history = self.history
        return {
            ("transaction", "stale"): history.stale_transactions,
            ("transaction", "ahead"): history.pruned_ahead,
            ("label", "refused"): history.refused_labels,
            ("label", "pruned"): history.pruned_labels,
        }

    def _count_drops(self) -> None:
        """Bring the dropped-events counters up to the history's tallies."""
        for key, tally in self._drop_tallies().items():
            self._dropped[key].inc(tally - self._dropped_counted.get(key, 0))
            self._dropped_counted[key] = tally

    async def catch_up(self) -> int:
        """Read both topics up to their current ends; returns the number of records read."""
        consumer = self._consumer()
        await consumer.start()
        try:
            partitions = await self._assign_all(consumer)
            ends = await consumer.end_offsets(partitions)
            read = 0
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                read += self._absorb_all(await consumer.getmany(timeout_ms=500, max_records=_POLL_RECORDS))
                await self._pace_labels(consumer, ends)
        finally:
            await consumer.stop()
        await self._save_cache()
        return read

    async def run(
        self,
        stop: asyncio.Event,
        on_report: Callable[[RetrainReport], None],
        model_events: ModelEventSource | None = None,
    ) -> None:
        """Follow the topics until ``stop``; retrain whenever the schedule (or a drift alarm) says so.

        ``model_events``: where drift alarms come from (default: the model-events topic)."""
        source = model_events or KafkaModelEvents(self.settings, self.topics.model_events)
        consumer = self._consumer()
        await consumer.start()
        watch = asyncio.create_task(self._watch_drift(source))
        training: asyncio.Task[RetrainReport | None] | None = None
        try:
            partitions = await self._assign_all(consumer)
            ends = await consumer.end_offsets(partitions)
            while not stop.is_set():
                self._absorb_all(await consumer.getmany(timeout_ms=500, max_records=_POLL_RECORDS))
                if not self.caught_up:
                    await self._pace_labels(consumer, ends)
                    self.caught_up = not [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
                    if self.caught_up and self.next_trigger() is None:
                        await self._save_cache()  # else the catch-up retrain saves it
                if training is not None and training.done():
                    report = training.result()
                    training = None
                    if report is not None:
                        on_report(report)
                trigger = self.next_trigger() if training is None else None
                if trigger is not None:
                    if trigger == "drift":
                        self._drift_requested = False
                    training = asyncio.create_task(self._retrain_and_announce(trigger))
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
            if training is not None:
                await asyncio.shield(training)
            await consumer.stop()

    # -- the history cache -----------------------------------------------------------------------

    def _history_cache(self) -> HistoryCache | None:
        directory = self.settings.trainer_cache_dir
        if directory is None:
            return None
        identity = CacheIdentity(
            self.topics.transactions, self.topics.labels, self.config.spec.digest, self.config.horizon_days
        )
        return HistoryCache(directory, identity, cache_key(self.settings))

    async def _load_cache(self, consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        """Before the first read: take the cached history and positions, unless the cache is refused
        (logged and counted; the topics are then read from the beginning). A Kafka or I/O error
        propagates, and the cache is tried again at the next call."""
        if self._cache is None or self._cache_tried:
            return
        directory = self._cache.directory
        started = time.perf_counter()
        try:
            cached = await asyncio.to_thread(self._cache.load, self.config.spec, self.history.max_held_labels)
            if cached is None:
                self._cache_tried = True
                log.info("no history cache in %s yet: reading the topics from the beginning", directory)
                self.metrics.history_cache.labels("load", "absent").inc()
                return
            beginnings = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            check_positions(cached.positions, _by_partition(beginnings), _by_partition(ends))
        except CacheRefused as exc:  # Kafka errors and the folder's I/O errors propagate, as they would without it
            self._cache_tried = True
            log.warning(
                "the history cache in %s is refused (%s): reading the topics from the beginning", directory, exc
            )
            self.metrics.history_cache.labels("load", "refused").inc()
            return
        self._cache_tried = True
        self.history = cached.history
        self.positions = cached.positions
        self._dropped_counted = self._drop_tallies()  # the metrics count what this process drops
        self.metrics.history_cache.labels("load", "loaded").inc()
        log.info(
            "history cache %s: %s transactions loaded in %.1f s; reading the topics from the cached positions",
            cached.path,
            f"{len(cached.history):,}",
            time.perf_counter() - started,
        )

    async def _save_cache(self) -> None:
        """Write the history (pruned to the horizon) and the positions to the cache; a failure is
        logged and counted, and the trainer goes on."""
        if self._cache is None:
            return
        self._prune()
        started = time.perf_counter()
        state, positions = self.history.export_state(), dict(self.positions)
        try:
            path = await asyncio.to_thread(self._cache.save, state, positions)
        except CacheBusy as exc:
            log.warning(
                "the history cache in %s was not written (%s); the previous one stays", self._cache.directory, exc
            )
            self.metrics.history_cache.labels("save", "failed").inc()
            return
        except Exception:
            log.exception("the history cache in %s was not written; the previous one stays", self._cache.directory)
            self.metrics.history_cache.labels("save", "failed").inc()
            return
        self.metrics.history_cache.labels("save", "saved").inc()
        log.info(
            "history cache %s: %s transactions saved in %.1f s", path, f"{len(state):,}", time.perf_counter() - started
        )

    async def _watch_drift(self, source: ModelEventSource) -> None:
        async for value in source.values():
            if self.drift.observe(value):
                self._drift_requested = True

    # -- retraining ------------------------------------------------------------------------------

    def due(self) -> bool:
        """Whether a retrain is called for now (see :meth:`next_trigger`)."""
        return self.next_trigger() is not None

    def next_trigger(self) -> Trigger | None:
        """What calls for a retrain now, if anything. Nothing before the topics are caught up; then a
        pending drift alarm, or the first retrain, or enough new labels or event time since the last."""
        if not self.caught_up:
            return None
        if self._drift_requested:
            return "drift"
        new_labels = self.history.labels_received - self._labels_at_last_retrain
        if new_labels == 0:
            return None
        if self._clock_at_last_retrain == 0:
            return "catch_up"
        if new_labels >= self.settings.trainer_retrain_every_labels:
            return "labels"
        elapsed_days = (self.history.clock_ms - self._clock_at_last_retrain) / DAY_MS
        return "days" if elapsed_days >= self.settings.trainer_retrain_every_days else None

    async def _retrain_and_announce(self, trigger: Trigger) -> RetrainReport | None:
        await self._save_cache()  # before the snapshot: a save's copies and a snapshot are never alive at once
        snapshot = self._snapshot()  # on the event loop: consumption mutates the history
        try:
            report = await asyncio.to_thread(self._attempt, snapshot, trigger)
        except NotEnoughHistory as exc:
            log.info("%s", exc)
            return None
        except Exception:
            log.exception("the retrain (trigger %s) failed; following on, the next one is due on schedule", trigger)
            return None
        if report.registered.promoted:
            try:
                await self.announce(report)
            except Exception:
                log.exception(
                    "version %s is champion but its reload event was not published; scorers find it at their "
                    "periodic alias check",
                    report.registered.version,
                )
        return report

    def retrain(self, trigger: Trigger = "once") -> RetrainReport:
        """Train, evaluate and register one challenger on the current history (blocking)."""
        return self._attempt(self._snapshot(), trigger)

    def _attempt(self, snapshot: Snapshot, trigger: Trigger) -> RetrainReport:
        """:meth:`retrain_on`, counted in the metrics (errors are re-raised)."""
        started = time.perf_counter()
        try:
            report = self.retrain_on(snapshot)
        except Exception as exc:
            self._account(trigger, "skipped" if isinstance(exc, NotEnoughHistory) else "failed", started)
            raise
        self._account(trigger, "promoted" if report.registered.promoted else "kept", started, report)
        return report

    def _account(self, trigger: Trigger, result: Result, started: float, report: RetrainReport | None = None) -> None:
        metrics = self.metrics
        metrics.retrains.labels(trigger, result).inc()
        metrics.retrain_seconds.observe(time.perf_counter() - started)
        if report is None:
            return
        recent = report.outcome.folds[0]
        metrics.record_models(
            {
                "challenger": recent.challenger.headline(),
                "champion": None if recent.champion is None else recent.champion.headline(),
                "baseline": recent.baseline.headline(),
            }
        )
        registered = report.registered
        champion = registered.version if registered.promoted else registered.previous_champion
        metrics.record_champion(self.settings.model_name, champion)
        metrics.last_retrain.set(self._clock())

    def _snapshot(self) -> Snapshot:
        self._labels_at_last_retrain = self.history.labels_received
        self._clock_at_last_retrain = self.history.clock_ms
        self._prune()
        return self.history.snapshot()

    def _prune(self) -> None:
        self.history.prune(self.history.clock_ms - self.config.horizon_days * DAY_MS)
        self._count_drops()

    def retrain_on(self, snapshot: Snapshot) -> RetrainReport:
        """Train, evaluate and register one challenger on ``snapshot`` (blocking; thread-safe)."""
        data = build_dataset(snapshot, self.config.spec)
        client = self._connected()
        champion_version, champion = self._champion(client)
        try:
            outcome = train_and_evaluate(data, self.config, champion)
        except ValueError as exc:
            raise NotEnoughHistory(f"not retraining yet: {exc}") from exc
        registered = register_outcome(client, self.settings, outcome, champion_version)
        report = RetrainReport(
            at=datetime.fromtimestamp(snapshot.clock_ms / 1000, UTC),
            transactions=len(snapshot),
            labelled=int(data.labelled.sum()),
            outcome=outcome,
            registered=registered,
        )
        self.reports.append(report)
        return report

    async def announce(self, report: RetrainReport) -> None:
        """Publish the reload event of a promoted version (acks=all)."""
        event = reload_event(self.settings, report.registered, report.outcome.metrics(), report.outcome.reason)
        producer = AIOKafkaProducer(**client_options(self.settings), acks="all")
        await producer.start()
        try:
            await send_model_event(producer, self.settings, event)
        finally:
            await producer.stop()

    def _connected(self) -> MlflowClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _champion(self, client: MlflowClient) -> tuple[str | None, ModelBundle | None]:
        name = self.settings.model_name
        version = resolve_alias(client, name, CHAMPION)
        if version is None:
            return None, None
        try:
            keys = verification_keys(self.settings)
            loaded = load_alias(
                client, name, CHAMPION, FEATURE_NAMES, keys=keys, expected_spec_digest=self.config.spec.digest
            )
        except ModelLoadError as error:
            if error.reason is ModelLoadFailure.STORE_UNAVAILABLE:
                raise
            log.warning("the champion (version %s) cannot be loaded (%s); comparing with the baseline", version, error)
            return version, None
        return version, loaded.bundle


def _by_partition(offsets: Mapping[TopicPartition, int]) -> dict[Position, int]:
    return {(tp.topic, tp.partition): offset for tp, offset in offsets.items()}
