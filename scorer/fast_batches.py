"""The pure parts of the batch consumption path: routes, pending records per topic, conversion.

:class:`PendingRecords` holds the fetched records of one routed topic until they form a batch (as
soon as the route's ``ready_size`` records are pending, or whatever arrived within ``within_s`` of the
oldest one; at most ``max_batch`` records, the rest form the next batch). A batch
carries the *position* of each partition it holds (its last offset + 1): the offset to commit once
the batch's handler has returned. Records of one partition stay in fetch order, so positions only
grow within one consumer generation; records of an older generation are never delivered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scorer.scoring import RawMessage

__all__ = ["Batch", "BatchHandler", "PendingRecords", "Route", "raw_messages"]

BatchHandler = Callable[[Sequence[RawMessage]], Awaitable[None]]
"""Processes one batch; returns once its results are durable (the batch may then be committed)."""

Partition = Any  # a faust ``TP`` or aiokafka ``TopicPartition``: equal, hashable ``(topic, partition)`` tuples


@dataclass(frozen=True)
class Route:
    """Where the records of one topic go, and how many at a time."""

    handler: BatchHandler
    max_batch: int
    within_s: float
    ready_size: int
    """Pending records that make a batch due at once (fewer wait up to ``within_s`` for more)."""


@dataclass
class Batch:
    """Records to hand to a route's handler, and the offset to commit per partition afterwards."""

    records: list[Any] = field(default_factory=list)
    """aiokafka ``ConsumerRecord`` objects (``topic``, ``partition``, ``offset``, ``key``, ``value``...)."""
    positions: dict[Partition, int] = field(default_factory=dict)


class PendingRecords:
    """Fetched records of one topic not yet delivered, oldest first, all of one consumer generation."""

    def __init__(self) -> None:
        self._segments: deque[tuple[Partition, list[Any]]] = deque()
        self._count = 0
        self.generation: int | None = None
        self.since: float | None = None
        """When the oldest pending record arrived (monotonic seconds)."""

    def __len__(self) -> int:
        return self._count

    def add(self, tp: Partition, records: list[Any], generation: int, now: float) -> None:
        """Append one partition's fetched records; records of an older generation are dropped first."""
        if not records:
            return
        if self.generation != generation:
            self.clear()
            self.generation = generation
        if self.since is None:
            self.since = now
        self._segments.append((tp, records))
        self._count += len(records)

    def due(self, route: Route, now: float) -> bool:
        """Whether a batch should be delivered now: a ready one (``ready_size`` records, or a full one),
        or the oldest record waited long enough."""
        return self._count >= min(route.ready_size, route.max_batch) or (
            self._count > 0 and self.since is not None and now - self.since >= route.within_s
        )

    def deadline(self, route: Route) -> float | None:
        """When the pending records become due by age (None when nothing is pending)."""
        return None if self.since is None else self.since + route.within_s

    def take(self, limit: int) -> Batch:
        """Remove and return up to ``limit`` of the oldest records, with their partitions' positions."""
        batch = Batch()
        segments = self._segments
        while segments and len(batch.records) < limit:
            tp, records = segments[0]
            room = limit - len(batch.records)
            if len(records) <= room:
                segments.popleft()
                taken = records
            else:
                taken, segments[0] = records[:room], (tp, records[room:])
            batch.records.extend(taken)
            batch.positions[tp] = taken[-1].offset + 1
        self._count -= len(batch.records)
        if not self._count:
            self.since = None
        return batch

    def clear(self) -> None:
        """Forget every pending record (they are fetched again from the committed offsets)."""
        self._segments.clear()
        self._count = 0
        self.since = None


def raw_messages(records: Sequence[Any]) -> list[RawMessage]:
    """The scorer's view of aiokafka records (the Kafka timestamp stays in milliseconds)."""
    return [
        RawMessage(
            r.key,
            r.value,
            r.topic,
            r.partition,
            r.offset,
            r.timestamp or None,
            tuple(r.headers) if r.headers else (),
        )
        for r in records
    ]
