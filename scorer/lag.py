"""Consumer lag per partition: the partition's high watermark minus the next offset to score.

The scorer records the next offset of each partition after every batch it has scored (acknowledged
verdicts included); a timer asks the broker for the end offsets of the partitions it holds and
exports the difference. Partitions handed to another worker are dropped from the gauge; a partition
is exported once this worker has scored a batch of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import Gauge

from scorer.scoring import RawMessage

__all__ = ["ConsumerLag"]

Partition = tuple[str, int]


class ConsumerLag:
    """Next offsets scored per partition, and the lag gauge they feed."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._next_offset: dict[Partition, int] = {}
        self._exported: set[Partition] = set()

    def scored(self, messages: Sequence[RawMessage]) -> None:
        """Record a scored batch: the next offset of each partition it held."""
        next_offset = self._next_offset
        for message in messages:
            partition = (message.topic, message.partition)
            if message.offset >= next_offset.get(partition, 0):
                next_offset[partition] = message.offset + 1

    def report(self, assigned: Iterable[Partition], highwaters: Mapping[Partition, int]) -> int:
        """Export the lag of each assigned partition whose high watermark is known; forget the others.
        Returns the total lag exported."""
        held, current, total = set(assigned), set[Partition](), 0
        for partition in held:
            end = highwaters.get(partition)
            if end is None:
                continue
            position = self._next_offset.get(partition)
            if position is None:
                continue  # nothing scored here yet: the start offset is not known to this worker
            lag = max(end - position, 0)
            self._gauge.labels(partition[0], str(partition[1])).set(lag)
            total += lag
            current.add(partition)
        for gone in self._exported - current:
            self._gauge.remove(gone[0], str(gone[1]))
            if gone not in held:
                self._next_offset.pop(gone, None)
        self._exported = current
        return total
