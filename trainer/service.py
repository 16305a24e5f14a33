"""The trainer process: follow transactions and labels, retrain on schedule, register, broadcast.

It reads both topics without a consumer group (it needs the history, not a share of it): from
:attr:`Trainer.positions` where it holds a partition's next offset, else from the beginning; first up
to their ends with the bulk reader (:mod:`fraudcore.kafka_bulk_reading`), then, when it runs on,
following them with aiokafka from where the catch-up stopped. It keeps the last ``horizon_days`` of
event time in memory, behind a stream clock a minority of forged event times cannot move, with the
scorer's bounds on what it takes in (see :mod:`trainer.history`). It retrains once it has caught up
with the topics, then after ``retrain_every_labels`` new labels or ``retrain_every_days`` of event
time, whichever comes first, in a worker thread so consumption goes on. A promoted version is
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from fraudcore.columnar.decoding import decode_labels, decode_transactions
from fraudcore.evaluation import NotEnoughData
from fraudcore.features.definition import DAY_MS, FEATURE_NAMES
from fraudcore.kafka_bulk_reading import BulkReader, PartitionKey, ValueBatch
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
        """Whether the history holds everything the topics held when following began."""
        self.positions: dict[PartitionKey, int] = {}
        """The next offset to read per (topic, partition), moved after every absorbed batch; reading
        starts there (a partition without one: at its beginning)."""
        self._fronts: dict[PartitionKey, int] = {}
        """The latest event time (transactions) or label time (labels) read from each partition (see
        :meth:`_pace`)."""
        self.reports: list[RetrainReport] = []
        self._cache = self._history_cache()
        self._cache_tried = False

    # -- consuming -------------------------------------------------------------------------------

    def _consumer(self) -> AIOKafkaConsumer:
        return groupless_consumer(
            self.settings, auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024
        )

    async def _assign_from_positions(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await topic_partitions(consumer, [self.topics.transactions, self.topics.labels])
        consumer.assign(partitions)
        for tp in partitions:
            position = self.positions.get((tp.topic, tp.partition))
            if position is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, position)

    def _absorb_all(self, batches: Sequence[ValueBatch]) -> int:
        """Add what one read returned: the transactions of every partition as one batch (the clock
        observes them together, see :mod:`trainer.history`), then the labels; move :attr:`positions`
        past them. Returns how many records."""
        for topic in (self.topics.transactions, self.topics.labels):
            parts = [batch for batch in batches if batch.topic == topic and len(batch)]
            if parts:
                fronts = self._absorb(topic, _values(parts))
                if topic == self.topics.transactions and self.history.clock_ms:
                    # one forged or skewed time must not hold its partition paused until the others end
                    fronts = np.minimum(fronts, self.history.clock_ms + FUTURE_TOLERANCE_MS)
                start = 0
                for batch in parts:
                    self._fronts[batch.key] = int(fronts[start : start + len(batch)].max())
                    start += len(batch)
        for batch in batches:
            if len(batch):
                self.positions[batch.key] = batch.next_offset
        return sum(len(batch) for batch in batches)

    def _absorb(self, topic: str, values: Sequence[bytes | None]) -> npt.NDArray[np.int64]:
        """Add a batch of one topic's values to the history; count the valid and invalid ones, and
        what the history dropped. Returns, per value, the event time of a valid transaction or the
        label time of a valid label (else 0)."""
        now = datetime.now(UTC)
        history = self.history
        corrections = history.label_corrections
        fronts = np.zeros(len(values), dtype=np.int64)
        if topic == self.topics.transactions:
            kind = "transaction"
            transactions, rejected = decode_transactions(values, now=now)
            history.add_transaction_columns(transactions)
            fronts[transactions.index] = transactions.event_time_ms
        else:
            kind = "label"
            labels, rejected = decode_labels(values, now=now)
            history.add_label_columns(labels)
            fronts[labels.index] = labels.labeled_at_ms
        self.metrics.label_corrections.inc(history.label_corrections - corrections)
        self._events[kind, "accepted"].inc(len(values) - len(rejected))
        self._events[kind, "invalid"].inc(len(rejected))
        self._count_drops()
        return fronts

    def _pace(self, reader: BulkReader) -> None:
        """While catching up, keep the partitions in step by event time. A transactions partition
        whose latest event time is more than the tolerance ahead of the slowest unfinished one (or
        of one not read yet) pauses until it catches up: the bulk reader hands over long runs of one
        partition, the clock would follow the fastest, and the labels of the others' transactions
        would be held (or, beyond the bound, refused). A labels partition whose latest label is dated
        beyond what the history takes now (the clock plus the tolerance) pauses until the
        transactions catch up with it: read in equal measure, the labels topic runs days ahead of
        the transactions and its labels would wait (or be refused). Once the transactions are read,
        all resume."""
        unread = [key for key in reader.remaining if key[0] == self.topics.transactions]
        floor = min((self._fronts.get(key, -FUTURE_TOLERANCE_MS) for key in unread), default=0)
        for key in unread:
            if self._fronts.get(key, floor) > floor + FUTURE_TOLERANCE_MS:
                reader.pause(key)
            else:
                reader.resume(key)
        limit = self.history.clock_ms + FUTURE_TOLERANCE_MS
        for key, front in self._fronts.items():
            if key[0] == self.topics.labels:
                if unread and front > limit:
                    reader.pause(key)
                else:
                    reader.resume(key)

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

    async def catch_up(self, stop: asyncio.Event | None = None, *, save_cache: bool = True) -> int:
        """Read both topics from :attr:`positions` (else their beginnings) up to their current ends, in
        bulk (until ``stop``, when given); returns the number of records read. The history cache, when
        configured, is loaded first and (with ``save_cache``, unless stopped) saved at the end."""
        reader = BulkReader(self.settings, client_id="fraudstream-trainer", batch_records=_POLL_RECORDS)
        try:
            topics = [self.topics.transactions, self.topics.labels]
            if self._cache is not None and self._cache.identity.cluster_id is None:
                cluster = await asyncio.to_thread(reader.cluster_id)
                self._cache.identity = replace(self._cache.identity, cluster_id=cluster)
            if self._cache is not None and not self._cache_tried:
                whole = await asyncio.to_thread(reader.ranges, topics)
                await self._load_cache({r.key: r.start for r in whole}, {r.key: r.end for r in whole})
            ranges = await asyncio.to_thread(reader.ranges, topics, starts=self.positions)
            reader.assign(ranges)
            for offsets in ranges:
                self.positions.setdefault(offsets.key, offsets.start)
            read = 0
            while not reader.done and not (stop is not None and stop.is_set()):
                read += self._absorb_all(await asyncio.to_thread(reader.read))
                self._pace(reader)
            for offsets in ranges:  # past what no batch shows: transaction markers at a partition's end
                self.positions[offsets.key] = max(self.positions[offsets.key], reader.position(offsets.key))
        finally:
            await asyncio.to_thread(reader.close)
        if save_cache and not (stop is not None and stop.is_set()):
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
        watch = asyncio.create_task(self._watch_drift(source))
        try:
            await self.catch_up(stop, save_cache=False)
            self.caught_up = not stop.is_set()
            if self.caught_up:
                if self.next_trigger() is None:
                    await self._save_cache()  # else the catch-up retrain saves it
                await self._follow(stop, on_report)
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)

    async def _follow(self, stop: asyncio.Event, on_report: Callable[[RetrainReport], None]) -> None:
        """Follow the topics from :attr:`positions` until ``stop``, retraining when due."""
        consumer = self._consumer()
        await consumer.start()
        training: asyncio.Task[RetrainReport | None] | None = None
        try:
            await self._assign_from_positions(consumer)
            while not stop.is_set():
                polled = await consumer.getmany(timeout_ms=500, max_records=_POLL_RECORDS)
                self._absorb_all([_batch(tp, records) for tp, records in polled.items()])
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

    async def _load_cache(self, beginnings: Mapping[PartitionKey, int], ends: Mapping[PartitionKey, int]) -> None:
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
            check_positions(cached.positions, beginnings, ends)
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
        except NotEnoughData as exc:  # any other error is a failed retrain, not a wait for more history
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


def _values(batches: Sequence[ValueBatch]) -> list[bytes | None]:
    """The values of ``batches`` in order, as one list."""
    return batches[0].values if len(batches) == 1 else list(chain.from_iterable(batch.values for batch in batches))


def _batch(tp: TopicPartition, records: Sequence[ConsumerRecord[Any, Any]]) -> ValueBatch:
    """An aiokafka poll's records of one partition as a :class:`ValueBatch`."""
    offsets = np.fromiter((record.offset for record in records), dtype=np.int64, count=len(records))
    return ValueBatch(tp.topic, tp.partition, [record.value for record in records], offsets)
