"""Kafka plumbing against the real broker: topics, produce, consume, consumer groups."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from fraudcore.kafka_admin import TopicSpec, admin_client, delete_topics, ensure_topics
from fraudcore.settings import Settings


async def test_topics_are_created_once_and_deleted(test_settings: Settings) -> None:
    name = f"{test_settings.topic_prefix}events"
    assert await ensure_topics(test_settings, [TopicSpec(name, partitions=4)]) == [name]
    assert await ensure_topics(test_settings, [TopicSpec(name, partitions=4)]) == []
    async with admin_client(test_settings) as admin:
        (description,) = await admin.describe_topics([name])
        assert len(description["partitions"]) == 4
    await delete_topics(test_settings, [name])
    async with admin_client(test_settings) as admin:
        for _ in range(50):
            if name not in await admin.list_topics():
                break
            await asyncio.sleep(0.1)
        assert name not in await admin.list_topics()


async def test_produce_and_consume_keep_per_key_order(test_settings: Settings, unique: str) -> None:
    topic = f"{test_settings.topic_prefix}transactions"
    await ensure_topics(test_settings, [TopicSpec(topic, partitions=3)])
    sent = [(f"card-{i % 5}".encode(), f"tx-{i}".encode()) for i in range(200)]
    producer = AIOKafkaProducer(bootstrap_servers=test_settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in sent:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=test_settings.bootstrap_servers,
        group_id=f"group-{unique}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[bytes, bytes]] = []
    try:
        while len(received) < len(sent):
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for messages in batches.values():
                received += [(m.key, m.value) for m in messages if m.key is not None and m.value is not None]
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()

    assert sorted(received) == sorted(sent)
    for card in {key for key, _ in sent}:
        assert [v for k, v in received if k == card] == [v for k, v in sent if k == card]
    assert sum(offset or 0 for offset in committed.values()) == len(sent)
    assert all(isinstance(tp, TopicPartition) for tp in committed)
