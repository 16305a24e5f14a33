"""A Faust (faust-streaming) app started in-process consumes from and produces to the real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from fraudcore.kafka_admin import TopicSpec, ensure_topics
from fraudcore.settings import Settings


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
