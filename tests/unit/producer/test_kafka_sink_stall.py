"""The sink tells a lost broker (messages wait, none is settled) from a slow or idle one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from fraudcore.kafka_admin import project_topics
from fraudcore.settings import Settings
from producer.kafka_sink import KafkaEventSink


@pytest_asyncio.fixture
async def sink() -> AsyncIterator[KafkaEventSink]:
    """A sink whose producer never connects: only the counters are used."""
    settings = Settings(kafka_bootstrap="127.0.0.1:9")
    made = KafkaEventSink(settings, project_topics(settings))
    yield made
    await made._producer.stop()  # closes the client it made, without a broker


async def test_waiting_messages_with_nothing_settled_are_a_stall(sink: KafkaEventSink) -> None:
    sink.sent["transactions"] = 10
    sink.acknowledged["transactions"] = 4

    await asyncio.wait_for(sink.stalled(0.3, poll_s=0.02), timeout=5)


async def test_acknowledgements_that_keep_coming_are_no_stall(sink: KafkaEventSink) -> None:
    sink.sent["transactions"] = 1000

    async def acknowledging() -> None:
        for _ in range(40):
            await asyncio.sleep(0.02)
            sink.acknowledged["transactions"] += 1

    watching = asyncio.create_task(sink.stalled(0.3, poll_s=0.02))
    await acknowledging()
    assert not watching.done()
    watching.cancel()


async def test_an_idle_producer_is_no_stall(sink: KafkaEventSink) -> None:
    sink.sent["transactions"] = sink.acknowledged["transactions"] = 7

    watching = asyncio.create_task(sink.stalled(0.1, poll_s=0.02))
    await asyncio.sleep(0.5)
    assert not watching.done()
    watching.cancel()
