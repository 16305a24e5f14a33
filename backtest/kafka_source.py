"""Reading the transactions and labels topics for a backtest: in bulk (:mod:`fraudcore.kafka_bulk_reading`),
partitions assigned, no consumer group joined, nothing committed, so no live group's offsets move.

Kafka timestamps may be produce times rather than event times (simulated history is produced in a
burst, a late event arrives after its time), so a record's timestamp only bounds its event time from
below, up to a slack: each partition starts at the first offset whose timestamp is at or after the
replay window's start minus ``slack`` (offsets-for-times; no such record: nothing to read), and is
read to its end offset as of the start of the read (records appended later are left for the next
run). The :class:`~backtest.history.Collector` then filters by event time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from backtest.history import Collector
from fraudcore.kafka_bulk_reading import BulkReader, MissingTopicError, OffsetRange
from fraudcore.settings import Settings
from schemas.topics import Topics

__all__ = ["MissingTopic", "PartitionSpan", "read_topics"]

_STALL_S: Final = 60.0
"""How long the read may make no progress before it gives up."""

_BATCH_RECORDS: Final = 50_000
"""Records one bulk read returns at most."""

MissingTopic = MissingTopicError
"""A topic the backtest reads does not exist."""

PartitionSpan = OffsetRange
"""The offsets ``[start, end)`` read from one partition."""


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
    reader = BulkReader(settings, client_id="fraudstream-backtest", batch_records=_BATCH_RECORDS, stall_s=_STALL_S)
    try:
        spans = await asyncio.to_thread(
            reader.ranges, (topics.transactions, topics.labels), since_ms=since_ms, required=True
        )
        on_total(sum(len(span) for span in spans))
        reader.assign(spans)
        while not reader.done:
            for batch in await asyncio.to_thread(reader.read):
                if batch.topic == topics.transactions:
                    collector.add_transactions(batch.partition, batch.values, batch.offsets)
                else:
                    collector.add_labels(batch.partition, batch.values, batch.offsets)
                on_progress(len(batch))
        return spans
    finally:
        await asyncio.to_thread(reader.close)
