"""The Faust app of a scorer worker: agents on the raw topics, the model watch, the web views.

Topics are raw bytes (the project's own strict decoder runs on each batch, not Faust's codec
registry). The scoring agent takes micro-batches (``take_events``) with concurrency 1; Faust acks
the batch's offsets only after :meth:`ScorerRuntime.process_transactions` returned, i.e. after the
verdicts were acknowledged. Labels are consumed by the same consumer group (recorded once, into
the shared Redis). Model events are not: every worker must see every reload event, so the runtime
watches that topic with a group-less consumer (see :mod:`scorer.model_watch`).

Ordering: one card's transactions share a partition, so customer features follow event order. A
terminal's history spans partitions; its windows end ``label_delay`` before the transaction, so they
are exact as long as the partitions being consumed stay within that delay of each other in event
time — true live, not necessarily when a worker catches up on a large backlog with uneven partition
progress. Backtests replay history in event-time order instead (same feature code).

An unexpected error while scoring crashes the worker instead of skipping the batch: the batch's
offsets are not committed, so a restarted (or another) worker scores it again.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from aiokafka.errors import KafkaError

from fraudcore.settings import Settings
from scorer.runtime import ScorerRuntime
from scorer.scoring import RawMessage
from scorer.web import register_views

__all__ = ["LABEL_BATCH_SIZE", "create_app", "raw_message"]

log = logging.getLogger(__name__)

LABEL_BATCH_SIZE = 1000
_LABEL_BATCH_WITHIN_S = 0.2
_LAG_INTERVAL_S = 5.0


def raw_message(message: Any) -> RawMessage:
    """The scorer's view of a Faust message."""
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = list(headers.items())
    return RawMessage(
        key=message.key,
        value=message.value,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
        headers=tuple((str(name), value) for name, value in headers),
    )


def create_app(settings: Settings, runtime: ScorerRuntime, *, web_enabled: bool = True) -> faust.App:
    """A Faust app wired to ``runtime``; start it with a Faust worker (or ``await app.start()``)."""
    datadir = settings.data_dir / "scorer" / settings.scorer_group
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.scorer_group,
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
        datadir=str(datadir),
        web_enabled=web_enabled,
        web_host=settings.scorer_web_host,
        web_bind=settings.scorer_web_host,
        web_port=settings.scorer_web_port,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=settings.topic_partitions,
        stream_buffer_maxsize=max(4096, 2 * settings.scorer_batch_size),
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    transactions = app.topic(runtime.topics.transactions, **raw)
    labels = app.topic(runtime.topics.labels, **raw)

    @app.agent(transactions, concurrency=1, name="score-transactions")
    async def score(stream: Any) -> None:  # faust.Stream; its stub lacks take_events
        async for events in stream.take_events(settings.scorer_batch_size, within=settings.scorer_batch_within_s):
            await _crash_on_error(app, runtime.process_transactions([raw_message(e.message) for e in events]))

    @app.agent(labels, concurrency=1, name="record-labels")
    async def record(stream: Any) -> None:
        async for events in stream.take_events(LABEL_BATCH_SIZE, within=_LABEL_BATCH_WITHIN_S):
            await _crash_on_error(app, runtime.process_labels([raw_message(e.message) for e in events]))

    @app.timer(interval=settings.model_check_interval_s, name="check-model-alias")  # type: ignore[untyped-decorator]
    async def check_models() -> None:
        await runtime.refresh_models(trigger="periodic check")

    @app.timer(interval=_LAG_INTERVAL_S, name="report-consumer-lag")  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        held = [tp for tp in app.consumer.assignment() if tp.topic == runtime.topics.transactions]
        try:
            ends = await app.consumer.highwaters(*held) if held else {}
        except (KafkaError, TimeoutError) as exc:  # the broker is away: keep the last values, try again next tick
            log.debug("end offsets unavailable: %s", exc)
            return
        offsets = {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
        runtime.lag.report([(tp.topic, tp.partition) for tp in held], offsets)

    if web_enabled:
        register_views(app, runtime)
    return app


async def _crash_on_error(app: faust.App, work: Any) -> None:
    try:
        await work
    except Exception as exc:
        log.exception("scoring failed; stopping the worker so that the batch is redelivered")
        await app.crash(exc)
        raise
