"""Kafka as the benchmark uses it: filling an input topic, watching an output topic fill up, and
reading records back outside any consumer group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from bench.workload import Record
from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings

__all__ = ["end_offsets", "fill", "read_records", "wait_for_count", "wait_until_served"]

_FILL_CHUNK = 10_000


async def fill(settings: Settings, topic: str, records: Sequence[Record]) -> None:
    """Send ``records`` (keyed, so partitioned as the producer partitions them) and wait until the
    broker acknowledged every one."""
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        for at in range(0, len(records), _FILL_CHUNK):
            deliveries = [await producer.send(topic, r.value, key=r.key) for r in records[at : at + _FILL_CHUNK]]
            await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


async def wait_until_served(settings: Settings, topics: Sequence[str], timeout_s: float = 30.0) -> None:
    """Wait until every partition of ``topics`` answers its leader's offset requests (a new topic's
    partitions take a moment to get a serving leader)."""
    consumer = groupless_consumer(settings)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            partitions = await topic_partitions(consumer, topics)
            try:
                if len({tp.topic for tp in partitions}) == len(set(topics)):
                    await consumer.end_offsets(partitions)
                    return
            except KafkaError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the topics {', '.join(topics)} have no serving leader after {timeout_s:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The end offset of each partition of ``topic`` now."""
    consumer = groupless_consumer(settings)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topic])
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def wait_for_count(
    settings: Settings,
    topic: str,
    count: int,
    *,
    alive: Callable[[], bool],
    timeout_s: float,
    on_status: Callable[[int], None] = lambda done: None,
    status_every_s: float = 10.0,
) -> int:
    """Poll the end offsets of ``topic`` until they sum to at least ``count``; returns that sum.

    Raises ``RuntimeError`` when ``alive()`` turns false or after ``timeout_s``.
    """
    consumer = groupless_consumer(settings)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topic])
        deadline = time.monotonic() + timeout_s
        next_status = time.monotonic() + status_every_s
        while True:
            done = int(sum((await consumer.end_offsets(partitions)).values()))
            if done >= count:
                return done
            if not alive():
                raise RuntimeError(f"the process stopped after {done:,} of {count:,} records in {topic}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic} holds {done:,} of {count:,} records after {timeout_s:.0f} s")
            if time.monotonic() >= next_status:
                next_status += status_every_s
                on_status(done)
            await asyncio.sleep(0.25)
    finally:
        await consumer.stop()


async def read_records(
    settings: Settings, topic: str, visit: Callable[[Any], None], since: dict[int, int] | None = None
) -> int:
    """Call ``visit`` on every record of ``topic`` from the offsets ``since`` (partition → offset;
    default: the beginning) to the end offsets as of now; returns how many were visited."""
    consumer = groupless_consumer(settings, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topic])
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, (since or {}).get(tp.partition, 0))
        remaining: set[TopicPartition] = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        visited = 0
        while remaining:
            for tp, batch in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                for record in batch:
                    if record.offset < ends[tp]:
                        visit(record)
                        visited += 1
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return visited
    finally:
        await consumer.stop()
