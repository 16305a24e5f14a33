"""The bulk reader against the real broker: offset ranges, reading to the planned end, pause and
resume, empty and missing topics, and what it says when it cannot read."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from aiokafka import AIOKafkaProducer

from fraudcore.kafka_admin import TopicSpec, ensure_topics
from fraudcore.kafka_bulk_reading import BulkReader, KafkaReadError, MissingTopicError, OffsetRange, ValueBatch
from fraudcore.settings import Settings
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

BASE_MS = 1_600_000_000_000


def _topic(settings: Settings, name: str = "values", partitions: int = 2) -> str:
    topic = f"{settings.topic_prefix}{name}"
    asyncio.run(ensure_topics(settings, [TopicSpec(topic, partitions=partitions)]))
    return topic


def _produce(settings: Settings, topic: str, per_partition: dict[int, int], first: int = 0) -> None:
    """``count`` values per partition, ``b"<partition>:<i>"`` for i from ``first``, stamped
    ``BASE_MS + i`` seconds."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for partition, count in per_partition.items():
                for i in range(first, first + count):
                    value = f"{partition}:{i}".encode()
                    await producer.send(topic, value, partition=partition, timestamp_ms=BASE_MS + i * 1000)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def _read_all(reader: BulkReader, *, limit_s: float = 60) -> list[ValueBatch]:
    batches: list[ValueBatch] = []
    deadline = time.monotonic() + limit_s
    while not reader.done:
        assert time.monotonic() < deadline, f"still reading {sorted(reader.remaining)}"
        batches += reader.read()
    return batches


def _values(batches: list[ValueBatch], partition: int) -> list[bytes | None]:
    return [value for batch in batches if batch.partition == partition for value in batch.values]


def test_ranges_reach_the_end_as_planned_and_batches_carry_their_offsets(test_settings: Settings) -> None:
    topic = _topic(test_settings)
    _produce(test_settings, topic, {0: 30, 1: 5})
    with BulkReader(test_settings, batch_records=7) as reader:
        assert reader.ranges([topic]) == [OffsetRange(topic, 0, 0, 30), OffsetRange(topic, 1, 0, 5)]
        ranges = reader.ranges([topic], starts={(topic, 0): 12})
        assert ranges == [OffsetRange(topic, 0, 12, 30), OffsetRange(topic, 1, 0, 5)]
        assert reader.ranges([topic], since_ms=BASE_MS + 3_000) == [
            OffsetRange(topic, 0, 3, 30),
            OffsetRange(topic, 1, 3, 5),
        ]
        assert reader.ranges([topic], since_ms=BASE_MS + 10_000) == [
            OffsetRange(topic, 0, 10, 30),
            OffsetRange(topic, 1, 5, 5),  # no record stamped that late: nothing to read
        ]
        reader.assign(ranges)
        _produce(test_settings, topic, {0: 4, 1: 4}, first=100)  # after the planning: left for the next read
        batches = _read_all(reader)
        assert all(len(batch) <= 7 for batch in batches)
        assert _values(batches, 0) == [f"0:{i}".encode() for i in range(12, 30)]
        assert _values(batches, 1) == [f"1:{i}".encode() for i in range(5)]
        for batch in batches:
            assert batch.offsets.tolist() == list(range(batch.first_offset, batch.next_offset))
        assert (reader.position((topic, 0)), reader.position((topic, 1))) == (30, 5)
        assert reader.read() == []
        assert reader.ranges([topic], starts={(topic, 0): 30, (topic, 1): 5}) == [
            OffsetRange(topic, 0, 30, 34),
            OffsetRange(topic, 1, 5, 9),
        ]


def test_a_paused_partition_is_not_delivered_until_resumed(test_settings: Settings) -> None:
    topic = _topic(test_settings)
    _produce(test_settings, topic, {0: 50, 1: 50})
    with BulkReader(test_settings, batch_records=10, stall_s=5) as reader:
        reader.assign(reader.ranges([topic]))
        reader.pause((topic, 0))
        batches: list[ValueBatch] = []
        deadline = time.monotonic() + 60
        while (topic, 1) in reader.remaining:
            assert time.monotonic() < deadline
            batches += reader.read()
        assert _values(batches, 0) == []
        assert reader.position((topic, 0)) == 0
        assert reader.read() == []  # every remaining partition paused: nothing, and no stall either
        reader.resume((topic, 0))
        batches += _read_all(reader)
        assert _values(batches, 0) == [f"0:{i}".encode() for i in range(50)]
        assert _values(batches, 1) == [f"1:{i}".encode() for i in range(50)]


def test_an_empty_topic_is_read_at_once_and_a_missing_one_is_named(test_settings: Settings) -> None:
    topic = _topic(test_settings, "empty")
    missing = f"{test_settings.topic_prefix}absent"
    with BulkReader(test_settings) as reader:
        ranges = reader.ranges([topic, missing])
        assert ranges == [OffsetRange(topic, 0, 0, 0), OffsetRange(topic, 1, 0, 0)]
        reader.assign(ranges)
        assert reader.done
        assert reader.read() == []
        with pytest.raises(MissingTopicError, match=f"topic '{missing}' does not exist"):
            reader.ranges([topic, missing], required=True)


def test_a_start_outside_the_partition_and_a_stalled_read_are_clear_errors(test_settings: Settings) -> None:
    topic = _topic(test_settings, partitions=1)
    _produce(test_settings, topic, {0: 10})
    with BulkReader(test_settings, stall_s=2) as reader:
        with pytest.raises(KafkaReadError, match=rf"cannot read {topic}\[0\] from offset 11: .* 0 to 10"):
            reader.ranges([topic], starts={(topic, 0): 11})
        reader.assign([OffsetRange(topic, 0, 0, 20)])  # an end the partition never reaches
        with pytest.raises(KafkaReadError, match=rf"no records from {topic}\[0\] at 10 of 20 .* for 2 s"):
            _read_all(reader)


def test_an_unreachable_broker_is_reported_within_the_timeout_without_a_flood_of_logs(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    where = f"127.0.0.1:{free_port()}"
    settings = Settings(kafka_bootstrap=where)
    started = time.monotonic()
    with (
        caplog.at_level(logging.DEBUG, logger="fraudcore.kafka_bulk_reading"),
        BulkReader(settings, timeout_s=3) as reader,
        pytest.raises(KafkaReadError) as raised,
    ):
        reader.ranges(["transactions"])
    assert time.monotonic() - started < 15
    message = str(raised.value)
    assert f"Kafka at {where} within 3 s" in message
    assert "Connection refused" in message
    assert "FRAUD_KAFKA_BOOTSTRAP" in message
    assert len(caplog.records) <= 4  # librdkafka retries every few hundred ms: each message once
    assert "Connect to" not in capfd.readouterr().err  # librdkafka's own stderr log is not used
