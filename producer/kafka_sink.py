"""Reliable producing of contract events: idempotent producer, ``acks=all``, delivery accounting.

``producer.send`` costs about 20 µs per message in aiokafka (a future, a pure-Python murmur2 hash and an
accumulator call each), more than decoding the event. So the sink buffers keyed events and hands them
over as one record batch per partition (``create_batch``/``send_batch``, one future per batch): every
``batch_records`` events, or ``linger_ms`` after they arrived when fewer come (a paced stream). The
partitions are the ones ``send`` would choose (:func:`~fraudcore.kafka_partitioning.default_partitions`)
and each partition's events keep their order. Events without a key (spread by Kafka) go through ``send``.

aiokafka waits for a lost broker without end; :meth:`KafkaEventSink.stalled` says when nothing was
acknowledged for a while although messages wait, and after :meth:`KafkaEventSink.abandon` leaving the
sink does not wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from functools import partial
from types import TracebackType

from aiokafka import AIOKafkaProducer

from fraudcore.kafka_partitioning import default_partitions
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.events import Event
from schemas.topics import Topics, key_for

__all__ = ["KafkaEventSink"]

_Keyed = tuple[str, bytes, bytes]
"""``(topic, key, value)`` of a buffered event."""


class KafkaEventSink:
    """Sends events to their topic, keyed as :mod:`schemas.topics` says; counts what the broker
    acknowledged and what failed. Use as an async context manager: leaving it flushes."""

    def __init__(self, settings: Settings, topics: Topics, *, linger_ms: int = 5, batch_records: int = 2000) -> None:
        self.topics = topics
        self.sent: Counter[str] = Counter()
        """Messages handed to the sink, per topic."""
        self.acknowledged: Counter[str] = Counter()
        """Messages the broker acknowledged (all in-sync replicas), per topic."""
        self.failed: Counter[str] = Counter()
        """Messages not delivered (after the producer's own retries), per topic."""
        self.failures: list[str] = []
        """Why messages were not delivered (one entry per message)."""
        self._producer = AIOKafkaProducer(
            **client_options(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
        )
        self._linger_s = linger_ms / 1000
        self._batch_records = batch_records
        self._buffer: list[_Keyed] = []
        self._handing_over = asyncio.Lock()
        self._lingering: asyncio.Task[None] | None = None
        self._not_handed: Counter[str] = Counter()
        """Events taken out of the buffer by the hand-over under way and not given to the producer yet."""
        self._abandoned_after_s: float | None = None

    async def __aenter__(self) -> KafkaEventSink:
        await self._producer.start()
        self._lingering = asyncio.create_task(self._linger())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if self._abandoned_after_s is None:
                await self.flush()
        finally:
            try:
                if self._lingering is not None:
                    self._lingering.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._lingering
            finally:
                if self._abandoned_after_s is None:
                    await self._producer.stop()
                else:  # the broker is gone: closing would wait for the messages it will not acknowledge
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._producer.stop(), self._abandoned_after_s)

    async def stalled(self, wait_s: float, poll_s: float = 0.25) -> None:
        """Return once messages have waited ``wait_s`` seconds with none acknowledged or failed meanwhile
        (the broker is lost); while messages keep being settled, or none wait, never return."""
        settled, since = -1, time.monotonic()
        while True:
            await asyncio.sleep(poll_s)
            now = sum(self.acknowledged.values()) + sum(self.failed.values())
            if now != settled or self.unacknowledged == 0:
                settled, since = now, time.monotonic()
            elif time.monotonic() - since >= wait_s:
                return

    def abandon(self, close_within_s: float = 1.0) -> None:
        """Give up on the messages not acknowledged yet: leaving the sink does not flush them, and waits at
        most ``close_within_s`` for the producer to close."""
        self._abandoned_after_s = close_within_s

    async def send(self, event: Event) -> None:
        """Queue one event (returns when it is buffered, not when it is acknowledged)."""
        topic = self.topics.topic_for(type(event))
        key, value = key_for(event), encode(event)
        self.sent[topic] += 1
        if key is None:
            delivery = await self._producer.send(topic, value)
            delivery.add_done_callback(partial(self._account, topic, 1))
            return
        self._buffer.append((topic, key, value))
        if len(self._buffer) >= self._batch_records:
            await self._hand_over()

    async def flush(self) -> None:
        """Wait until every queued message is acknowledged or failed."""
        await self._hand_over()
        await self._producer.flush()

    async def _linger(self) -> None:
        while True:
            await asyncio.sleep(self._linger_s)
            if self._buffer:
                await self._hand_over()

    async def _hand_over(self) -> None:
        """Give the buffered events to the producer, one record batch per partition (or more, when full).

        Events the producer refuses to take (its metadata cannot be had, it is closing, ...) are counted
        as failed with the reason, never dropped unaccounted; the error is not raised, so the lingering
        task keeps running and ``flush`` still waits for what was handed over."""
        async with self._handing_over:  # one at a time, in order: a partition's events stay in sequence
            records, self._buffer = self._buffer, []
            self._not_handed.update(topic for topic, _, _ in records)
            try:
                await self._hand_over_by_partition(records)
            except Exception as error:  # noqa: BLE001 - whatever stopped the hand-over, its events are failures
                for topic, count in self._not_handed.items():
                    self.failed[topic] += count
                    self.failures += [f"{topic}: not handed to the producer: {error!r}"] * count
            finally:
                self._not_handed.clear()

    async def _hand_over_by_partition(self, records: list[_Keyed]) -> None:
        by_topic: defaultdict[str, list[_Keyed]] = defaultdict(list)
        for record in records:
            by_topic[record[0]].append(record)
        for topic, keyed in by_topic.items():
            partitions = sorted(await self._producer.partitions_for(topic))
            chosen = default_partitions([key for _, key, _ in keyed], len(partitions))
            by_partition: defaultdict[int, list[_Keyed]] = defaultdict(list)
            for record, index in zip(keyed, chosen.tolist(), strict=True):
                by_partition[partitions[index]].append(record)
            for partition, in_partition in by_partition.items():
                await self._send_partition(topic, partition, in_partition)

    async def _send_partition(self, topic: str, partition: int, records: list[_Keyed]) -> None:
        batch, count = self._producer.create_batch(), 0
        for _, key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: hand it over, start the next
                if count:
                    await self._send_batch(batch, topic, partition, count)
                batch, count = self._producer.create_batch(), 0
                if batch.append(key=key, value=value, timestamp=None) is None:  # larger than a batch: alone
                    delivery = await self._producer.send(topic, value, key=key, partition=partition)
                    self._handed(topic, 1, delivery)
                    continue
            count += 1
        if count:
            await self._send_batch(batch, topic, partition, count)

    async def _send_batch(self, batch: object, topic: str, partition: int, count: int) -> None:
        delivery = await self._producer.send_batch(batch, topic, partition=partition)
        self._handed(topic, count, delivery)

    def _handed(self, topic: str, count: int, delivery: asyncio.Future[object]) -> None:
        """``count`` events of ``topic`` are the producer's now; ``delivery`` accounts for them."""
        self._not_handed[topic] -= count
        delivery.add_done_callback(partial(self._account, topic, count))

    def _account(self, topic: str, count: int, done: asyncio.Future[object]) -> None:
        if done.cancelled():
            self.failed[topic] += count
            self.failures += [f"{topic}: send cancelled"] * count
        elif (error := done.exception()) is not None:
            self.failed[topic] += count
            self.failures += [f"{topic}: {error!r}"] * count
        else:
            self.acknowledged[topic] += count

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
        return sum(self.sent.values()) - sum(self.acknowledged.values()) - sum(self.failed.values())
