"""A Faust (faust-streaming) app started in-process consumes from and produces to the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from fraudcore.kafka_admin import TopicSpec, ensure_topics
from fraudcore.settings import Settings
from scorer.fast_app import FastApp
from scorer.scoring import RawMessage

RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


async def test_faust_agent_consumes_and_produces(test_settings: Settings, unique: str, tmp_path: Path) -> None:
    source_name, sink_name = f"{test_settings.topic_prefix}in", f"{test_settings.topic_prefix}out"
    await ensure_topics(test_settings, [TopicSpec(source_name, partitions=2), TopicSpec(sink_name, partitions=2)])
    app = faust.App(
        f"faust-{unique}",
        broker=f"kafka://{test_settings.bootstrap_servers}",
        store="memory://",
        datadir=str(tmp_path / "faust"),
        web_enabled=False,
        producer_acks=-1,
    )
    source = app.topic(source_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    sink = app.topic(sink_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(source)
    async def shout(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value.upper())

    await app.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=test_settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait(source_name, f"message {i}".encode(), key=f"k{i % 3}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            sink_name, bootstrap_servers=test_settings.bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        received: set[bytes] = set()
        try:
            while len(received) < 20:
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 60)
                received |= {m.value for messages in batches.values() for m in messages if m.value is not None}
        finally:
            await consumer.stop()
    finally:
        await app.stop()
    assert received == {f"MESSAGE {i}".encode() for i in range(20)}


def _fast_app(settings: Settings, group: str, datadir: Path) -> FastApp:
    return FastApp(
        group,
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.3,
        fetch_max_wait_ms=5,
    )


async def _produce(settings: Settings, topic: str, count: int, partitions: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, f"m{i}".encode(), partition=i % partitions)
        await producer.flush()
    finally:
        await producer.stop()


async def _committed(settings: Settings, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        return {tp.partition: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_batch_is_committed_only_once_handled_and_a_failed_batch_is_redelivered(
    test_settings: Settings, unique: str, tmp_path: Path
) -> None:
    name, group = f"{test_settings.topic_prefix}batches", f"fast-{unique}"
    await ensure_topics(test_settings, [TopicSpec(name, partitions=1)])
    await _produce(test_settings, name, 30, partitions=1)
    seen: list[list[int]] = []
    blocked, release = asyncio.Event(), asyncio.Event()

    async def fail_the_second_batch(messages: Sequence[RawMessage]) -> None:
        seen.append([m.offset for m in messages])
        if len(seen) == 2:
            blocked.set()
            await release.wait()
            raise RuntimeError("scoring failed")

    first = _fast_app(test_settings, group, tmp_path / "first")
    first.route_batches(first.topic(name, **RAW), fail_the_second_batch, max_batch=10, within_s=0.05)
    await first.start()
    try:
        await asyncio.wait_for(blocked.wait(), 60)
        await _eventually(lambda: _is(_committed(test_settings, group), {0: 10}))
        await asyncio.sleep(1.0)  # several commit intervals while the second batch is in progress
        assert await _committed(test_settings, group) == {0: 10}
        release.set()
        await _eventually(lambda: _true(first.crash_reason is not None))
    finally:
        await first.stop()
    assert seen == [list(range(10)), list(range(10, 20))]  # nothing after the failed batch
    assert await _committed(test_settings, group) == {0: 10}

    again: list[int] = []

    async def record(messages: Sequence[RawMessage]) -> None:
        again.extend(m.offset for m in messages)

    second = _fast_app(test_settings, group, tmp_path / "second")
    second.route_batches(second.topic(name, **RAW), record, max_batch=10, within_s=0.05)
    await second.start()
    try:
        await _eventually(lambda: _is(_committed(test_settings, group), {0: 30}))
    finally:
        await second.stop()
    assert again == list(range(10, 30))  # the failed batch again, then the rest


async def test_members_joining_and_leaving_lose_no_message(
    test_settings: Settings, unique: str, tmp_path: Path
) -> None:
    name, group, partitions = f"{test_settings.topic_prefix}members", f"fast-{unique}", 4
    await ensure_topics(test_settings, [TopicSpec(name, partitions=partitions)])
    handled: dict[str, list[tuple[int, int]]] = {"first": [], "second": []}

    def app(label: str) -> FastApp:
        async def handle(messages: Sequence[RawMessage]) -> None:
            await asyncio.sleep(0.01)
            handled[label].extend((m.partition, m.offset) for m in messages)

        member = _fast_app(test_settings, group, tmp_path / label)
        member.route_batches(member.topic(name, **RAW), handle, max_batch=50, within_s=0.05)
        return member

    def count() -> int:
        return len({item for items in handled.values() for item in items})

    first, second = app("first"), app("second")
    await first.start()
    try:
        await _produce(test_settings, name, 400, partitions)
        await _eventually(lambda: _true(count() == 400))
        await second.start()  # joins: the partitions are shared out again
        try:
            await _produce(test_settings, name, 400, partitions)
            await _eventually(lambda: _true(count() == 800))
        finally:
            await first.stop()  # leaves: the second takes every partition
        await _produce(test_settings, name, 400, partitions)
        await _eventually(lambda: _true(count() == 1200))
        await _eventually(lambda: _is(_committed(test_settings, group), dict.fromkeys(range(partitions), 300)))
    finally:
        await second.stop()
    assert handled["first"]
    assert handled["second"]
    assert set(handled["first"]) | set(handled["second"]) == {(p, o) for p in range(partitions) for o in range(300)}


async def _is(value: Awaitable[dict[int, int]], expected: dict[int, int]) -> bool:
    return await value == expected


async def _true(value: bool) -> bool:
    return value
