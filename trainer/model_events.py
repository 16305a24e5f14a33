"""Following the model-events topic outside any consumer group, from its end (as each scorer does).

:class:`KafkaModelEvents` assigns every partition, seeks to the end and only then sets
:attr:`~KafkaModelEvents.ready`: an event published after that is seen. After an error it reconnects
and resumes where it left off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.settings import Settings

__all__ = ["KafkaModelEvents", "ModelEventSource"]

log = logging.getLogger(__name__)


class ModelEventSource(Protocol):
    """Raw values of the model-events topic as they arrive."""

    ready: asyncio.Event
    """Set once an event published from now on will be delivered."""

    def values(self) -> AsyncIterator[bytes | None]:
        """The values, endlessly (cancel the consuming task to stop)."""
        ...


class KafkaModelEvents:
    """The model-events topic from its end, without a consumer group."""

    def __init__(self, settings: Settings, topic: str, *, retry_s: float = 1.0) -> None:
        self.settings = settings
        self.topic = topic
        self.retry_s = retry_s
        self.ready = asyncio.Event()
        self._next: dict[TopicPartition, int] = {}

    async def values(self) -> AsyncIterator[bytes | None]:
        """The values, endlessly; reconnects after an error."""
        while True:
            consumer = groupless_consumer(self.settings)
            try:
                await consumer.start()
                await self._position(consumer)
                self.ready.set()
                while True:
                    for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                        for record in records:
                            self._next[tp] = record.offset + 1
                            yield record.value
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading %s failed; reconnecting in %.0f s", self.topic, self.retry_s)
                await asyncio.sleep(self.retry_s)
            finally:
                await consumer.stop()

    async def _position(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await topic_partitions(consumer, [self.topic])
        if not partitions:
            raise RuntimeError(f"the topic {self.topic} has no partitions (does it exist?)")
        consumer.assign(partitions)
        for tp in partitions:
            if tp in self._next:
                consumer.seek(tp, self._next[tp])
            else:
                await consumer.seek_to_end(tp)
            await consumer.position(tp)  # resolves the offset now: later events are not skipped
