"""Reliable producing of contract events: idempotent producer, ``acks=all``, delivery accounting."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from aiokafka import AIOKafkaProducer

from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.events import Event
from schemas.topics import Topics, key_for

__all__ = ["KafkaEventSink"]


class KafkaEventSink:
    """Sends events to their topic, keyed as :mod:`schemas.topics` says; counts what the broker
    acknowledged and what failed. Use as an async context manager: leaving it flushes."""

    def __init__(self, settings: Settings, topics: Topics, *, linger_ms: int = 5) -> None:
        self.topics = topics
        self.sent: Counter[str] = Counter()
        """Messages handed to the producer, per topic."""
        self.acknowledged: Counter[str] = Counter()
        """Messages the broker acknowledged (all in-sync replicas), per topic."""
        self.failed: Counter[str] = Counter()
        """Messages not delivered (after the producer's own retries), per topic."""
        self.failures: list[str] = []
        """Why messages were not delivered."""
        self._producer = AIOKafkaProducer(
            **client_options(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
        )

    async def __aenter__(self) -> KafkaEventSink:
        await self._producer.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            await self._producer.flush()
        finally:
            await self._producer.stop()

    async def send(self, event: Event) -> None:
        """Queue one event (returns when the producer has buffered it, not when it is acknowledged)."""
        topic = self.topics.topic_for(type(event))
        delivery = await self._producer.send(topic, encode(event), key=key_for(event))
        self.sent[topic] += 1
        delivery.add_done_callback(lambda done: self._account(topic, done))

    async def flush(self) -> None:
        """Wait until every queued message is acknowledged or failed."""
        await self._producer.flush()

    def _account(self, topic: str, done: object) -> None:
        from asyncio import Future

        assert isinstance(done, Future)
        if done.cancelled():
            self.failed[topic] += 1
            self.failures.append(f"{topic}: send cancelled")
        elif (error := done.exception()) is not None:
            self.failed[topic] += 1
            self.failures.append(f"{topic}: {error!r}")
        else:
            self.acknowledged[topic] += 1

    def tallies(self) -> dict[tuple[str, str], int]:
        """The counts so far by (kind, outcome): kind ``transaction`` or ``label``, outcome ``sent``,
        ``acknowledged`` or ``failed``."""
        kinds = (("transaction", self.topics.transactions), ("label", self.topics.labels))
        return {
            (kind, outcome): counts[topic]
            for kind, topic in kinds
            for outcome, counts in (("sent", self.sent), ("acknowledged", self.acknowledged), ("failed", self.failed))
        }

    @property
    def unacknowledged(self) -> int:
        """Messages queued but neither acknowledged nor failed yet."""
        return sum(self.sent.values()) - sum(self.acknowledged.values()) - len(self.failures)
