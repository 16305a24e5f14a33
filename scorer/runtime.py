"""What a scorer worker does with each batch, label batch and model event; its producer and metrics.

Delivery (at-least-once, idempotent output): :meth:`ScorerRuntime.process_transactions` returns
only when every verdict and dead letter of the batch is acknowledged by the broker (``acks=all``,
idempotent producer). The Faust agent acks the batch's offsets after that, so a committed offset
never runs ahead of its verdict. Verdicts are keyed by transaction id: a redelivered transaction
gets a verdict with the same key, and its features are unchanged (idempotent feature store).

Redis unreachable or refusing work (out of memory under ``noeviction``, busy, loading, read-only
after a failover...: :mod:`fraudcore.features.redis_refusals`): the batch is retried with exponential
back-off (up to ``redis_retry_max_s`` between tries) until Redis accepts it. The agent does not take
new messages meanwhile, so consumption pauses and nothing is lost or scored without features;
``/ready`` answers 503 naming the cause, ``fraudstream_scorer_redis_errors_total{kind}`` counts the
failed tries and ``fraudstream_scorer_feature_store_unavailable{kind}`` is 1 while it lasts.

A send that keeps failing (the verdicts topic deleted, a record too large for it, a permission
revoked) is resent until it succeeds, so nothing is dropped; the worker meanwhile makes no progress.
:class:`~scorer.progress.ProgressWatch` notices (``/ready`` 503 once pending input has waited longer
than ``scorer_stall_bound_s``), and the error is named in the log (at most every
``_TROUBLE_LOG_EVERY_S``), in ``fraudstream_scorer_send_failures_total{error}`` and in ``/ready``. A
send that hangs is diagnosed while it waits: a topic missing from the cluster's metadata is reported
as such, long before the client's own timeout, and records are resent only once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError
from mode import Service

from fraudcore.features.definition import LabelFacts, LabelOutcome
from fraudcore.features.store import FeatureStore, FeatureStoreUnavailable
from fraudcore.histogram_batch import observe_many
from fraudcore.kafka_admin import DEAD_LETTER_RECORD_BYTES
from fraudcore.kafka_renewing_producer import RenewingProducer
from fraudcore.kafka_security import client_options
from fraudcore.kafka_send_failures import error_name, needs_operator
from fraudcore.redis_eviction import EvictionCheck
from fraudcore.settings import Settings
from schemas.codec import Decoded, decode, decode_batch, encode
from schemas.dead_letter import DeadLetter
from schemas.enums import ModelEventKind
from schemas.events import Event, Label, ModelEvent, Transaction
from schemas.topics import Topics, key_for
from scorer.drift_watch import DriftWatch
from scorer.lag import ConsumerLag
from scorer.metrics import ScorerMetrics
from scorer.model_holder import ModelHolder, RefreshOutcome
from scorer.progress import ProgressWatch
from scorer.record_sender import Record, send_records
from scorer.scoring import (
    BatchScorer,
    RawMessage,
    ScoredChunk,
    conflict_rejection,
    dead_letter_for,
    label_rejection,
    utc_now,
)
from scorer.verdict_encoding import EncodedVerdicts

__all__ = ["ScorerRuntime", "producer_options"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_RELOAD_KINDS = frozenset({ModelEventKind.RELOAD, ModelEventKind.PROMOTED, ModelEventKind.ROLLED_BACK})
_SEND_RETRY_MAX_S = 5.0
_STORE_RETRY_FIRST_S = 0.05
_LABEL_OUTCOMES = {
    LabelOutcome.NEW: "recorded",
    LabelOutcome.CORRECTED: "corrected",
    LabelOutcome.UNCHANGED: "duplicate",
    LabelOutcome.HELD: "held",
}
"""The ``outcome`` label of ``fraudstream_scorer_labels_total`` for each accepted label's outcome."""
_ALONE_FROM_BYTES = 64 * 1024
"""Records this large (dead letters of huge inputs) are sent one by one, not in a shared record batch."""
_DIAGNOSE_AFTER_S = 2.0
"""A send attempt still waiting after this long is diagnosed (are its topics still there?)."""
_TROUBLE_LOG_EVERY_S = 30.0
"""Longest silence about a send or feature store that keeps failing (the first failure is logged at once)."""
_STALL_CHECK_EVERY_S = 1.0
"""How often the worker checks whether its pending input has waited past the stall bound."""


def producer_options(settings: Settings) -> dict[str, Any]:
    """The options of a worker's producer (verdicts, dead letters, model events): idempotent, every
    record acknowledged by all replicas, and records as large as a dead letter may be (the dead letter
    of a large input is a third larger: with aiokafka's 1 MiB default it would be refused and resent
    forever, stalling its partition)."""
    return {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 1,
        "max_batch_size": 512 * 1024,
        "max_request_size": DEAD_LETTER_RECORD_BYTES,
    }


class ScorerRuntime(Service):
    """The scorer's resources (feature store, model holder, producer) and its batch logic."""

    def __init__(
        self,
        settings: Settings,
        topics: Topics,
        store: FeatureStore,
        models: ModelHolder,
        scorer: BatchScorer,
        metrics: ScorerMetrics,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.topics = topics
        self.store = store
        self._held_labels_dropped = store.held_labels_dropped
        self.models = models
        self.scorer = scorer
        self.metrics = metrics
        self.store_down: FeatureStoreUnavailable | None = None
        """Why the feature store's last call failed (None: it succeeded)."""
        self.progress = ProgressWatch(settings.scorer_stall_bound_s)
        self.eviction: EvictionCheck | None = None
        """Redis's eviction policy as read at start (None: features not in Redis)."""
        self._producers = RenewingProducer(self._new_producer)
        self._reported: set[tuple[str, str | None, str]] = set()
        self._trouble_logged_at = -_TROUBLE_LOG_EVERY_S
        self._stall_reported = False
        metrics.ready.set_function(lambda: float(self.ready))
        metrics.stalled_seconds.set_function(self.progress.waiting_s)
        self.drift = DriftWatch(metrics)
        self.lag = ConsumerLag(metrics.consumer_lag)

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(**producer_options(self.settings))

    async def on_start(self) -> None:
        """Start the producer and publish the model in use."""
        await self._producers.start()
        for alias, outcome in list(self.models.last_outcome.items()):
            self._report_metrics(alias, outcome)

    @Service.task
    async def _watch_model_events(self) -> None:
        """Follow the model-events topic outside any consumer group: every worker sees every event."""
        while not self.should_stop:
            consumer = AIOKafkaConsumer(
                self.topics.model_events,
                **client_options(self.settings),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="latest",
            )
            try:
                await consumer.start()
                async for record in consumer:
                    message = RawMessage(record.key, record.value, record.topic, record.partition, record.offset)
                    await self.process_model_event(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("model-event watch failed; restarting it (the periodic alias check covers the gap)")
                await self.sleep(1.0)
            finally:
                await consumer.stop()

    async def on_stop(self) -> None:
        """Flush and stop the producer, close the feature store."""
        await self._producers.stop()
        await self.store.close()

    @property
    def redis_ok(self) -> bool:
        """Whether the last feature-store call succeeded."""
        return self.store_down is None

    @property
    def ready(self) -> bool:
        """Whether the worker serves a model, its last feature-store call succeeded and it is not stalled."""
        try:
            self.models.champion  # noqa: B018 - raises when no model is loaded
        except RuntimeError:
            return False
        return self.redis_ok and self._producers.current is not None and self.progress.stall() is None

    def report_eviction(self, check: EvictionCheck) -> None:
        """Record (metric, ``/ready``) Redis's eviction policy; warn unless it is ``noeviction``."""
        self.eviction = check
        self.metrics.redis_eviction_policy.labels(check.policy or "unknown", check.evicts).set(1)
        if not check.safe:
            log.warning("Redis: %s", check.detail)

    def report_lag(self, assigned: Sequence[tuple[str, int]], highwaters: dict[tuple[str, int], int]) -> None:
        """Export the consumer lag of the partitions held and tell the progress watch."""
        self.progress.lag(self.lag.report(assigned, highwaters))

    @Service.timer(_STALL_CHECK_EVERY_S)
    async def _report_stall(self) -> None:
        """Log a stall when it begins and then at most every ``_TROUBLE_LOG_EVERY_S``, naming the last
        error met; and its end."""
        stall = self.progress.stall()
        if stall is None:
            if self._stall_reported:
                log.info("progress again: the stall is over")
            self._stall_reported = False
            return
        if not self._trouble_due(first=not self._stall_reported):
            return
        self._stall_reported = True
        error = stall.last_error
        cause = "no error reported" if error is None else f"last error: {error.error}: {error.message}"
        action = " (it persists until an operator acts)" if error is not None and error.needs_operator else ""
        log.error(
            "stalled: no progress on pending input for %.0f s (bound %.0f s), not ready; %s%s",
            stall.for_s,
            self.progress.bound_s,
            cause,
            action,
        )

    def _new_error(self, error: BaseException) -> bool:
        """Whether ``error`` differs in kind from the last one that held a batch up."""
        last = self.progress.last_error
        return last is None or last.error != type(error).__name__

    def _trouble_due(self, *, first: bool = False) -> bool:
        """Whether to log a lasting trouble now: at its ``first`` sight, else at most every ``_TROUBLE_LOG_EVERY_S``."""
        now = time.monotonic()
        if not first and now - self._trouble_logged_at < _TROUBLE_LOG_EVERY_S:
            return False
        self._trouble_logged_at = now
        return True

    async def process_transactions(self, messages: Sequence[RawMessage]) -> None:
        """Score one micro-batch and wait until its verdicts and dead letters are acknowledged.

        The batch is scored in chunks of ``scorer_chunk_size`` (the feature store counts the next chunk
        while one is scored); the verdicts of all chunks then go out together, one record batch per
        partition."""
        started = time.perf_counter()
        self.progress.started()
        triage = self.scorer.triage(messages)
        verdict_topic = self.topics.verdicts
        letters = list(triage.dead_letters)
        records: list[Record] = []
        async with aclosing(self._scored_chunks(triage.transactions)) as chunks:
            async for first, chunk in chunks:
                verdicts = chunk.verdicts
                records += [(verdict_topic, k, v) for k, v in zip(verdicts.keys, verdicts.values, strict=True)]
                self._count_verdicts(verdicts)
                for row, conflict in chunk.conflicts:
                    transaction, message = triage.transactions[first + row], triage.messages[first + row]
                    letters.append(dead_letter_for(message, conflict_rejection(transaction, conflict), utc_now()))
                for stage, seconds in self.scorer.stage_seconds.items():
                    self.metrics.stage_seconds.labels(stage).observe(seconds)
                if self.scorer.last_batch is not None:
                    matrix, scores = self.scorer.last_batch
                    await self._raise_alarms(self.drift.observe(self.models.champion, matrix, scores))
        await self._send_records(self._records(letters) + records)
        dropped, self._held_labels_dropped = (
            self.store.held_labels_dropped - self._held_labels_dropped,
            self.store.held_labels_dropped,
        )
        self.metrics.labels.labels("dropped_before_transaction").inc(dropped)
        acknowledged_ms = time.time() * 1000
        self._count_batch(len(messages), letters, triage.unknown_fields)
        self.lag.scored(messages)
        self.progress.progressed()
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        sent_ms = np.array([stamp for stamp in triage.timestamps_ms if stamp is not None], dtype=np.float64)
        observe_many(self.metrics.end_to_end_seconds, np.maximum(acknowledged_ms - sent_ms, 0.0) / 1000)

    async def _scored_chunks(
        self, transactions: Sequence[Transaction]
    ) -> AsyncGenerator[tuple[int, ScoredChunk], None]:
        """The scored chunks of ``transactions``, each with the index of its first transaction; while Redis
        is away, the chunks not scored yet are retried with back-off (recording is idempotent, so a chunk
        recorded before the failure counts once)."""
        done, delay = 0, _STORE_RETRY_FIRST_S
        while True:
            try:
                chunk_size = self.settings.scorer_chunk_size
                async with aclosing(self.scorer.score_chunks(transactions[done:], chunk_size)) as chunks:
                    async for chunk in chunks:
                        self._store_reachable()
                        first, done = done, done + chunk.size
                        yield first, chunk
                return
            except FeatureStoreUnavailable as exc:
                delay = await self._store_unavailable(exc, delay)

    async def process_labels(self, messages: Sequence[RawMessage]) -> None:
        """Record a batch of labels into the terminal statistics; invalid ones, those dated ahead of the
        stream (see :meth:`BatchScorer.labels_ahead`), and those the feature store refuses
        (dated before their transaction, or of an unknown transaction beyond the held bound), are
        dead-lettered."""
        self.progress.started()
        now = utc_now()
        batch = decode_batch([message.value for message in messages], Label, now=now)
        letters = [dead_letter_for(messages[index], rejection, now) for index, rejection in batch.rejected]
        valid = [
            (index, LabelFacts.of(result.event))
            for index, result in enumerate(batch.results)
            if isinstance(result, Decoded)
        ]
        decoded = []
        for (index, fact), ahead in zip(valid, self.scorer.labels_ahead([fact for _, fact in valid]), strict=True):
            if ahead is None:
                decoded.append((index, fact))
            else:
                letters.append(dead_letter_for(messages[index], ahead, now))
        facts = [fact for _, fact in decoded]
        outcomes = (
            await self._with_store(lambda: self.store.record_labels(facts, clock_ms=self.scorer.event_clock.now_ms))
            if facts
            else []
        )
        for (index, fact), outcome in zip(decoded, outcomes, strict=True):
            if outcome.refused:
                letters.append(dead_letter_for(messages[index], label_rejection(fact, outcome, self.scorer.spec), now))
        await self._send_all(letters)
        tally = Counter(_LABEL_OUTCOMES[outcome] for outcome in outcomes if not outcome.refused)
        for name in ("recorded", "corrected", "duplicate", "held"):
            self.metrics.labels.labels(name).inc(tally[name])
        self.metrics.labels.labels("dead_lettered").inc(len(letters))
        self.metrics.label_corrections.inc(tally["corrected"])
        self.metrics.fraud_labels.inc(sum(fact.is_fraud for fact in facts))
        await self._raise_alarms(self.drift.observe_labels([fact.is_fraud for fact in facts]))
        for letter in letters:
            self.metrics.dead_letters.labels(letter.reason_code.value).inc()
        self.progress.progressed()

    async def process_model_event(self, message: RawMessage) -> list[RefreshOutcome]:
        """React to a model event: a reload/promotion/rollback of our model triggers a refresh."""
        result = decode(message.value, ModelEvent, now=utc_now())
        if not isinstance(result, Decoded):
            log.warning("ignoring an invalid model event at offset %s: %s", message.offset, result)
            return []
        event = result.event
        if event.kind not in _RELOAD_KINDS or event.model_name != self.models.model_name:
            return []
        log.info("model event %s for version %s: checking the registry", event.kind.value, event.model_version)
        return await self.refresh_models(trigger=f"{event.kind.value} event")

    async def refresh_models(self, trigger: str) -> list[RefreshOutcome]:
        """Refresh every alias held; report swaps and failures (metrics, log, model-events topic)."""
        outcomes = await self.models.refresh_all()
        for outcome in outcomes:
            self._report_metrics(outcome.alias, outcome)
            if outcome.swapped:
                log.info(
                    "%s: %s now serves version %s (was %s)",
                    trigger,
                    outcome.alias,
                    outcome.version,
                    outcome.previous_version,
                )
            if outcome.error is None:
                continue
            failure = (outcome.alias, outcome.version, outcome.error.reason.value)
            if failure not in self._reported:  # once per version and reason, not at every check
                self._reported.add(failure)
                self.metrics.model_load_failures.labels(outcome.error.reason.value).inc()
                log.error(
                    "%s: keeping version %s of %s: %s", trigger, outcome.previous_version, outcome.alias, outcome.error
                )
                await self._publish_failure(outcome)
        return outcomes

    def _report_metrics(self, alias: str, outcome: RefreshOutcome) -> None:
        result = "failed" if outcome.failed else "swapped" if outcome.swapped else "unchanged"
        self.metrics.model_refreshes.labels(alias, result).inc()
        if outcome.swapped:
            if outcome.previous_version is not None:
                self.metrics.model_info.remove(self.models.model_name, outcome.previous_version, alias)
            if outcome.version is not None:
                self.metrics.model_info.labels(self.models.model_name, outcome.version, alias).set(1)

    async def _raise_alarms(self, alarms: Sequence[str]) -> None:
        for alarm in alarms:
            log.warning("drift alarm: %s", alarm)
            event = ModelEvent(
                kind=ModelEventKind.DRIFT_ALARM,
                model_name=self.models.model_name,
                model_version=self.models.champion.version,
                metrics={},
                message=alarm[:4096],
                at=utc_now(),
            )
            await self._send_all([event])

    async def _publish_failure(self, outcome: RefreshOutcome) -> None:
        assert outcome.error is not None
        event = ModelEvent(
            kind=ModelEventKind.LOAD_FAILED,
            model_name=self.models.model_name,
            model_version=outcome.version or "unknown",
            previous_version=outcome.previous_version,
            metrics={},
            message=f"{outcome.alias}: {outcome.error}"[:4096],
            at=utc_now(),
        )
        try:
            await self._send_all([event])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not publish the load failure")

    async def _with_store(self, call: Callable[[], Awaitable[T]]) -> T:
        delay = _STORE_RETRY_FIRST_S
        while True:
            try:
                result = await call()
            except FeatureStoreUnavailable as exc:
                delay = await self._store_unavailable(exc, delay)
                continue
            self._store_reachable()
            return result

    async def _store_unavailable(self, error: FeatureStoreUnavailable, delay: float) -> float:
        """Count and log the failure (the first of a run at once, then at most every
        ``_TROUBLE_LOG_EVERY_S``), wait ``delay``; the next delay."""
        first = self.store_down is None or self.store_down.kind != error.kind
        self.store_down = error
        self.progress.failed(error, operator=False)
        self.metrics.redis_errors.labels(error.kind).inc()
        for kind, gauge in self.metrics.feature_store_unavailable_by_kind.items():
            gauge.set(kind == error.kind)
        if self._trouble_due(first=first):
            log.warning("feature store unavailable (%s); retrying in %.2f s, consumption paused", error, delay)
        await asyncio.sleep(delay)
        return min(delay * 2, self.settings.redis_retry_max_s)

    def _store_reachable(self) -> None:
        if self.store_down is not None:
            log.info("feature store reachable again (was: %s); consumption resumes", self.store_down.kind)
            for gauge in self.metrics.feature_store_unavailable_by_kind.values():
                gauge.set(0)
        self.store_down = None

    async def _send_all(self, events: Sequence[Event]) -> None:
        """Send every event and wait for all acknowledgements; retry what failed, forever."""
        await self._send_records(self._records(events))

    def _records(self, events: Sequence[Event]) -> list[Record]:
        return [(self.topics.topic_for(type(event)), key_for(event), encode(event)) for event in events]

    async def _send_records(self, records: Sequence[Record]) -> None:
        """Send ``(topic, key, value)`` records and wait for all acknowledgements; retry what failed, forever."""
        pending = list(records)
        delay, began, failed = 0.1, time.monotonic(), False
        while pending:
            producer = self._producers.current
            assert producer is not None, "the runtime is not started"
            failures = await self._send_attempt(producer, pending)
            if failures:
                errors = [error for _, error in failures]
                self._count_send_failures(errors, time.monotonic() - began, delay, first=not failed)
                failed = True
                with contextlib.suppress(KafkaError):  # a broker still away: renewed at a later attempt
                    await self._producers.renew_after(producer, errors)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _SEND_RETRY_MAX_S)
                await self._wait_while_missing(producer, {topic for (topic, _, _), _ in failures})
            elif failed:
                log.info("sent after %.1f s of failed attempts", time.monotonic() - began)
            pending = [record for record, _ in failures]

    async def _send_attempt(
        self, producer: AIOKafkaProducer, pending: Sequence[Record]
    ) -> list[tuple[Record, BaseException]]:
        """One attempt to send ``pending``; what failed, with its error. An attempt that waits long is
        diagnosed meanwhile (the client waits up to its request timeout before it tells)."""
        attempt = asyncio.ensure_future(send_records(producer, pending, alone_from=_ALONE_FROM_BYTES))
        try:
            while not (await asyncio.wait({attempt}, timeout=_DIAGNOSE_AFTER_S))[0]:
                found = await self._diagnose(producer, {topic for topic, _, _ in pending})
                if found is not None:
                    first = self._new_error(found)
                    self.progress.failed(found)
                    self.metrics.send_failures.labels(error_name(found)).inc()
                    if self._trouble_due(first=first):
                        log.error("cannot send %d records: %s; retrying until it is fixed", len(pending), found)
            return attempt.result()
        except KafkaError as error:  # no metadata for a topic yet, a broker away, a record too large
            return [(record, error) for record in pending]
        finally:
            if not attempt.done():
                attempt.cancel()

    async def _wait_while_missing(self, producer: AIOKafkaProducer, topics: set[str]) -> None:
        """Wait while one of ``topics`` is missing from the cluster, checking every ``_DIAGNOSE_AFTER_S``.

        Records handed to aiokafka for a partition without a leader make its sender refresh metadata
        back to back (thousands of requests a second) until they expire; resending them only once
        the topic is back keeps that to the first attempt."""
        while isinstance(found := await self._diagnose(producer, topics), UnknownTopicOrPartitionError):
            self.progress.failed(found)
            self.metrics.send_failures.labels(error_name(found)).inc()
            await asyncio.sleep(_DIAGNOSE_AFTER_S)

    @staticmethod
    async def _diagnose(producer: AIOKafkaProducer, topics: set[str]) -> KafkaError | None:
        """The error that explains a send waiting on ``topics``: one missing from the cluster or not
        authorized; None when they look fine (or the cluster does not answer)."""
        try:
            cluster = await asyncio.wait_for(producer.client.fetch_all_metadata(), _DIAGNOSE_AFTER_S)
        except (KafkaError, OSError, TimeoutError):
            return None
        if denied := sorted(topics & cluster.unauthorized_topics):
            return TopicAuthorizationFailedError(f"not authorized to write to {', '.join(denied)}")
        if missing := sorted(topics - cluster.topics()):
            return UnknownTopicOrPartitionError(
                f"topic {', '.join(missing)} does not exist (or these credentials may not describe it)"
            )
        return None

    def _count_send_failures(
        self, errors: Sequence[BaseException], failing_for_s: float, delay: float, *, first: bool
    ) -> None:
        """Count the failed attempt by error, tell the progress watch, log (the first failure of a send
        at once, then at most every ``_TROUBLE_LOG_EVERY_S``)."""
        for name in {error_name(error) for error in errors}:
            self.metrics.send_failures.labels(name).inc()
        worst = next((error for error in errors if needs_operator(error)), errors[0])
        first = first or self._new_error(worst)
        self.progress.failed(worst)
        if self._trouble_due(first=first):
            causes = ", ".join(sorted({f"{type(error).__name__}: {error}" for error in errors}))
            level = logging.ERROR if needs_operator(worst) else logging.WARNING
            log.log(
                level,
                "%d messages not sent for %.0f s (%s); resending in %.1f s",
                len(errors),
                failing_for_s,
                causes,
                delay,
            )

    def _count_batch(self, consumed: int, letters: Sequence[DeadLetter], unknown_fields: int) -> None:
        metrics = self.metrics
        metrics.batch_size.observe(consumed)
        metrics.transactions.labels("dead_lettered").inc(len(letters))
        metrics.unknown_fields.inc(unknown_fields)
        for reason, count in Counter(letter.reason_code.value for letter in letters).items():
            metrics.dead_letters.labels(reason).inc(count)

    def _count_verdicts(self, verdicts: EncodedVerdicts) -> None:
        metrics = self.metrics
        metrics.transactions.labels("scored").inc(len(verdicts))
        champion = self.scorer.last_champion_version
        roles = ["champion" if version == champion else "canary" for version in verdicts.model_versions]
        combinations = Counter(zip(verdicts.decisions, verdicts.risk_levels, roles, strict=True))
        for (decision, risk, role), count in combinations.items():
            metrics.decisions.labels(decision.value, risk.value, role).inc(count)
        observe_many(metrics.scores, verdicts.scores)
