"""Reading the transactions and labels topics for a backtest: partitions assigned, no consumer group,
nothing committed, so no live group's offsets move.

Kafka timestamps may be produce times rather than event times (simulated history is produced in a
burst, a late event arrives after its time), so a record's timestamp only bounds its event time from
below, up to a slack: each partition starts at the first offset whose timestamp is at or after the
replay window's start minus ``slack`` (offsets-for-times; no such record: nothing to read), and is
read to its end offset as of the start of the read (records appended later are left for the next
run). The :class:`~backtest.history.Collector` then filters by event time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from backtest.history import Collector
from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.settings import Settings
from schemas.topics import Topics

__all__ = ["MissingTopic", "PartitionSpan", "read_topics"]

_STALL_S: Final = 60.0
"""How long the read may make no progress before it gives up."""


class MissingTopic(Exception):
    """A topic the backtest reads does not exist."""


@dataclass(frozen=True)
class PartitionSpan:
    """The offsets ``[start, end)`` read from one partition."""

    topic: str
    partition: int
    start: int
    end: int


async def read_topics(
    settings: Settings,
    topics: Topics,
    collector: Collector,
    *,
    since_ms: int,
    on_total: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda count: None,
) -> list[PartitionSpan]:
    """Read every record of both topics from ``since_ms`` (by Kafka timestamp) to their current ends
    into ``collector``; returns what was read per partition. ``on_total`` gets the number of records
    to read, ``on_progress`` each batch's size."""
    consumer = groupless_consumer(
        settings,
        client_id="fraudstream-backtest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        spans = await _spans(consumer, (topics.transactions, topics.labels), since_ms)
        on_total(sum(span.end - span.start for span in spans))
        await _read(consumer, spans, topics, collector, on_progress)
        return spans
    finally:
        await consumer.stop()


async def _spans(consumer: AIOKafkaConsumer, names: tuple[str, ...], since_ms: int) -> list[PartitionSpan]:
    partitions = await topic_partitions(consumer, names)
    for name in names:
        if not any(tp.topic == name for tp in partitions):
            raise MissingTopic(f"topic {name!r} does not exist (check FRAUD_TOPIC_PREFIX)")
    ends = await consumer.end_offsets(partitions)
    found = await consumer.offsets_for_times({tp: max(0, since_ms) for tp in partitions})
    spans = []
    for tp in partitions:
        at = found.get(tp)
        spans.append(PartitionSpan(tp.topic, tp.partition, ends[tp] if at is None else at.offset, ends[tp]))
    return spans


async def _read(
    consumer: AIOKafkaConsumer,
    spans: list[PartitionSpan],
    topics: Topics,
    collector: Collector,
    on_progress: Callable[[int], None],
) -> None:
    ends = {TopicPartition(span.topic, span.partition): span.end for span in spans if span.start < span.end}
    if not ends:
        return
    consumer.assign(list(ends))
    for span in spans:
        if span.start < span.end:
            consumer.seek(TopicPartition(span.topic, span.partition), span.start)
    remaining = set(ends)
    last_progress = time.monotonic()
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=20_000)
        for tp, records in batches.items():
            end = ends[tp]
            wanted = records if not records or records[-1].offset < end else [r for r in records if r.offset < end]
            if tp.topic == topics.transactions:
                collector.add_transactions(tp.partition, wanted)
            else:
                collector.add_labels(tp.partition, wanted)
            on_progress(len(wanted))
        if batches:
            last_progress = time.monotonic()
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
                consumer.pause(tp)
        if remaining and time.monotonic() - last_progress > _STALL_S:
            stuck = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in remaining))
            raise KafkaError(f"no records from {stuck} for {_STALL_S:.0f} s although their end is not reached")
