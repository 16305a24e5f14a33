"""Pending records per topic: batches by size or age, positions per partition, generations."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.structs import ConsumerRecord, TopicPartition

from scorer.fast_batches import PendingRecords, Route, raw_messages
from scorer.scoring import RawMessage

TP0, TP1 = TopicPartition("tx", 0), TopicPartition("tx", 1)


async def _ignore(messages: Sequence[RawMessage]) -> None:
    return None


ROUTE = Route(_ignore, max_batch=3, within_s=0.5, ready_size=3)


def _records(tp: TopicPartition, *offsets: int) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(tp.topic, tp.partition, offset, 1_700_000_000_000 + offset, 0, b"k", b"{}", None, 1, 2, ())
        for offset in offsets
    ]


def test_a_batch_is_due_when_full_or_when_its_oldest_record_waited_long_enough() -> None:
    pending = PendingRecords()
    pending.add(TP0, _records(TP0, 0, 1), generation=1, now=10.0)
    assert not pending.due(ROUTE, now=10.1)
    assert pending.deadline(ROUTE) == 10.5
    assert pending.due(ROUTE, now=10.5)
    pending.add(TP1, _records(TP1, 7), generation=1, now=10.2)
    assert pending.due(ROUTE, now=10.2)  # full
    assert pending.deadline(ROUTE) == 10.5  # the oldest record sets the deadline


def test_a_batch_with_ready_size_records_is_due_at_once_and_still_takes_up_to_max_batch() -> None:
    route = Route(_ignore, max_batch=4, within_s=0.5, ready_size=2)
    pending = PendingRecords()
    pending.add(TP0, _records(TP0, 0), generation=1, now=10.0)
    assert not pending.due(route, now=10.1)  # one record waits for company
    pending.add(TP1, _records(TP1, 0, 1, 2, 3), generation=1, now=10.1)
    assert pending.due(route, now=10.1)
    assert [(r.partition, r.offset) for r in pending.take(route.max_batch).records] == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert not pending.due(route, now=10.1)  # the remaining one is below ready_size again


def test_a_ready_size_above_max_batch_means_a_full_batch() -> None:
    route = Route(_ignore, max_batch=2, within_s=0.5, ready_size=100)
    pending = PendingRecords()
    pending.add(TP0, _records(TP0, 0, 1), generation=1, now=10.0)
    assert pending.due(route, now=10.0)


def test_take_keeps_fetch_order_and_gives_each_partition_its_last_offset_plus_one() -> None:
    pending = PendingRecords()
    pending.add(TP0, _records(TP0, 4, 5, 6, 7), generation=1, now=0.0)
    pending.add(TP1, _records(TP1, 9, 11), generation=1, now=0.1)  # offsets may have gaps
    first = pending.take(3)
    assert [(r.partition, r.offset) for r in first.records] == [(0, 4), (0, 5), (0, 6)]
    assert first.positions == {TP0: 7}
    second = pending.take(3)
    assert [(r.partition, r.offset) for r in second.records] == [(0, 7), (1, 9), (1, 11)]
    assert second.positions == {TP0: 8, TP1: 12}
    assert len(pending) == 0
    assert pending.deadline(ROUTE) is None


def test_the_remainder_of_a_taken_batch_keeps_its_age() -> None:
    pending = PendingRecords()
    pending.add(TP0, _records(TP0, 0, 1, 2, 3), generation=1, now=1.0)
    pending.take(3)
    assert len(pending) == 1
    assert pending.deadline(ROUTE) == 1.5


def test_records_of_a_new_generation_replace_the_older_ones() -> None:
    pending = PendingRecords()
    pending.add(TP0, _records(TP0, 0, 1), generation=1, now=0.0)
    pending.add(TP0, _records(TP0, 0), generation=2, now=3.0)
    assert pending.generation == 2
    batch = pending.take(10)
    assert [r.offset for r in batch.records] == [0]
    assert pending.deadline(ROUTE) is None


def test_clear_forgets_everything() -> None:
    pending = PendingRecords()
    pending.add(TP0, _records(TP0, 0, 1), generation=1, now=0.0)
    pending.add(TP0, [], generation=1, now=0.0)
    pending.clear()
    assert len(pending) == 0
    assert not pending.due(ROUTE, now=100.0)
    assert pending.take(5).records == []


def test_raw_messages_keep_bytes_origin_and_the_millisecond_timestamp() -> None:
    record = ConsumerRecord("tx", 2, 41, 1_700_000_000_123, 0, b"c1", b'{"a":1}', None, 2, 7, (("h", b"v"),))
    untimed = ConsumerRecord("tx", 2, 42, 0, 0, None, None, None, 0, 0, ())
    assert raw_messages([record, untimed]) == [
        RawMessage(b"c1", b'{"a":1}', "tx", 2, 41, 1_700_000_000_123, (("h", b"v"),)),
        RawMessage(None, None, "tx", 2, 42, None, ()),
    ]
