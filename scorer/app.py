"""The Faust app of a scorer worker: batch routes on the raw topics, the model watch, the web views.

Topics are raw bytes (the project's own strict decoder runs on each batch, not Faust's codec
registry). The transactions and labels topics are not Faust agents: the app's consumer
(:class:`~scorer.fast_consumer.BatchConsumer`) hands each fetched batch of them (up to
``scorer_batch_size`` records: at once when ``scorer_batch_ready_size`` are pending, else what
arrived within ``scorer_batch_within_s``) straight to
:meth:`ScorerRuntime.process_transactions` / :meth:`~ScorerRuntime.process_labels`, one batch at a
time, and makes its offsets committable only after that returned, i.e. after the verdicts were
acknowledged. Faust still runs the consumer group, rebalancing, commits, the web server and the
timers. Labels are consumed by the same consumer group (recorded once, into the shared Redis).
Model events are not: every worker must see every reload event, so the runtime watches that topic
with a group-less consumer.

Ordering: one card's transactions share a partition, so customer features follow event order. A
terminal's history spans partitions; its windows end ``label_delay`` before the transaction, so they
are exact as long as the partitions being consumed stay within that delay of each other in event
time — true live, not necessarily when a worker catches up on a large backlog with uneven partition
progress. Backtests replay history in event-time order instead (same feature code).

An unexpected error while scoring crashes the worker instead of skipping the batch: the batch's
offsets are not committed and nothing after it is delivered, so a restarted (or another) worker
scores it again.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.errors import KafkaError

from fraudcore.kafka_security import faust_credentials
from fraudcore.settings import Settings
from scorer.fast_app import FastApp
from scorer.runtime import ScorerRuntime
from scorer.web import register_views, web_application_options

__all__ = ["LABEL_BATCH_SIZE", "create_app"]

log = logging.getLogger(__name__)

LABEL_BATCH_SIZE = 1000
_LABEL_BATCH_WITHIN_S = 0.2
_LAG_INTERVAL_S = 5.0


def create_app(settings: Settings, runtime: ScorerRuntime, *, web_enabled: bool = True) -> FastApp:
    """A Faust app wired to ``runtime``; start it with a Faust worker (or ``await app.start()``)."""
    datadir = settings.data_dir / "scorer" / settings.scorer_group
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = FastApp(
        settings.scorer_group,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        store="memory://",
        datadir=str(datadir),
        web_enabled=web_enabled,
        web_host=settings.scorer_web_host,
        web_bind=settings.scorer_web_host,
        web_port=settings.scorer_web_port,
        web_router_enabled=False,  # no tables to route: only the scorer's own views are served
        web_application_options=web_application_options(settings, runtime),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_partitions=settings.topic_partitions,
        fetch_max_wait_ms=settings.scorer_fetch_max_wait_ms,
        broker_session_timeout=settings.scorer_session_timeout_s,
        consumer_group_instance_id=settings.scorer_instance_id,
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    transactions = app.topic(runtime.topics.transactions, **raw)
    labels = app.topic(runtime.topics.labels, **raw)

    app.route_batches(
        transactions,
        runtime.process_transactions,
        max_batch=settings.scorer_batch_size,
        within_s=settings.scorer_batch_within_s,
        ready_size=settings.scorer_batch_ready_size,
    )
    app.route_batches(labels, runtime.process_labels, max_batch=LABEL_BATCH_SIZE, within_s=_LABEL_BATCH_WITHIN_S)

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
        runtime.report_lag([(tp.topic, tp.partition) for tp in held], offsets)

    if web_enabled:
        register_views(app, runtime)
    return app
