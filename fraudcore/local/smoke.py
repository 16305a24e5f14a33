"""An end-to-end plumbing check: a Kafka round trip, a Redis round trip and an MLflow store query."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from fraudcore import mlflow_store
from fraudcore.kafka_admin import TopicSpec, delete_topics, ensure_topics
from fraudcore.settings import Settings

__all__ = ["SmokeResult", "run_smoke_check"]


@dataclass(frozen=True)
class SmokeResult:
    """One line of the smoke check."""

    name: str
    ok: bool
    detail: str


def run_smoke_check(settings: Settings, timeout_s: float = 30.0) -> list[SmokeResult]:
    """Run each round trip against the configured services and say how it went."""
    checks: tuple[tuple[str, Callable[[], str]], ...] = (
        ("kafka", lambda: asyncio.run(_kafka_round_trip(settings, timeout_s))),
        ("redis", lambda: _redis_round_trip(settings)),
        ("mlflow", lambda: mlflow_store.check_health(settings)),
    )
    results = []
    for name, check in checks:
        try:
            results.append(SmokeResult(name, True, check()))
        except Exception as exc:  # noqa: BLE001 - reported to the user, line by line
            results.append(SmokeResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results


async def _kafka_round_trip(settings: Settings, timeout_s: float) -> str:
    topic = f"{settings.topic_prefix}smoke-{uuid.uuid4().hex[:12]}"
    payload = uuid.uuid4().bytes
    await ensure_topics(settings, [TopicSpec(topic, partitions=1)])
    try:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, payload, key=b"smoke")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), timeout_s)
        finally:
            await consumer.stop()
    finally:
        await delete_topics(settings, [topic])
    if message.value != payload:
        raise RuntimeError(f"read back {message.value!r}, expected {payload!r}")
    return f"produced and consumed 1 message on {topic} (offset {sent.offset})"


def _redis_round_trip(settings: Settings) -> str:
    key = f"fraudstream:smoke:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.redis_connection_url)
    try:
        client.set(key, b"ok", ex=60)
        value = client.get(key)
        client.delete(key)
    finally:
        client.close()
    if value != b"ok":
        raise RuntimeError(f"read back {value!r}, expected b'ok'")
    return "SET, GET and DEL of one key"
