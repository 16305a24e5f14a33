"""The worker's producer is replaced after the broker refuses its producer state, and only then."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaConnectionError, NotLeaderForPartitionError, OutOfOrderSequenceNumber

from fraudcore.kafka_renewing_producer import RenewingProducer


class ProducerTwin:
    """Start and stop, counted."""

    def __init__(self) -> None:
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


def test_an_out_of_order_sequence_replaces_the_producer_with_a_fresh_started_one() -> None:
    async def scenario() -> None:
        producers = RenewingProducer(ProducerTwin)
        await producers.start()
        first = producers.current
        assert first is not None

        assert await producers.renew_after(first, [NotLeaderForPartitionError(), OutOfOrderSequenceNumber()])

        assert producers.current is not first
        assert producers.current is not None
        assert producers.current.started
        assert first.stopped
        assert producers.renewals == 1

    asyncio.run(scenario())


def test_errors_the_producer_recovers_from_keep_it() -> None:
    async def scenario() -> None:
        producers = RenewingProducer(ProducerTwin)
        await producers.start()
        first = producers.current
        assert first is not None

        assert not await producers.renew_after(first, [KafkaConnectionError(), NotLeaderForPartitionError()])

        assert producers.current is first
        assert not first.stopped

    asyncio.run(scenario())


def test_a_producer_already_replaced_by_another_send_is_not_replaced_twice() -> None:
    async def scenario() -> None:
        producers = RenewingProducer(ProducerTwin)
        await producers.start()
        first = producers.current
        assert first is not None
        await producers.renew_after(first, [OutOfOrderSequenceNumber()])
        second = producers.current

        assert not await producers.renew_after(first, [OutOfOrderSequenceNumber()])

        assert producers.current is second
        assert producers.renewals == 1

    asyncio.run(scenario())
