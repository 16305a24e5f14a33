"""A producer whose partition numbering the broker refuses is replaced, and sending succeeds again."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber
from aiokafka.structs import TopicPartition

from fraudcore.kafka_admin import TopicSpec, ensure_topics
from fraudcore.kafka_renewing_producer import RenewingProducer
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings
from scorer.record_sender import send_records


async def test_after_a_gap_in_the_sequence_numbers_only_a_new_producer_gets_records_through(
    test_settings: Settings,
) -> None:
    topic = f"{test_settings.topic_prefix}renewal"
    await ensure_topics(test_settings, [TopicSpec(topic, 1)])
    producers = RenewingProducer(
        lambda: AIOKafkaProducer(**client_options(test_settings), acks="all", enable_idempotence=True)
    )
    await producers.start()
    try:
        first = producers.current
        assert first is not None
        assert await send_records(first, [(topic, b"card-1", b"before")], alone_from=1024) == []
        # What aiokafka does when it fails a batch on its own (expired while the partition had no leader):
        # the batch's sequence numbers stay counted, the broker never saw them.
        first._txn_manager.increment_sequence_number(TopicPartition(topic, 0), 8)

        for _ in range(2):  # resending through the same producer never succeeds
            failures = await send_records(first, [(topic, b"card-1", b"after")], alone_from=1024)
            assert [type(error) for _, error in failures] == [OutOfOrderSequenceNumber]
        assert await producers.renew_after(first, [error for _, error in failures])

        renewed = producers.current
        assert renewed is not None
        assert renewed is not first
        assert await send_records(renewed, [(topic, b"card-1", b"after")], alone_from=1024) == []
    finally:
        await producers.stop()
