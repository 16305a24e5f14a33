"""The reference of ``fraudstream bench``: raw aiokafka, no framework, no features, no model.

Consume the transactions topic in batches (consumer group, offsets committed after the batch's
outputs are acknowledged: at-least-once, as the scorer), decode each message with the project's
strict decoder, encode the event again and produce it to the output topic, on the partition it came
from, with the scorer's producer settings. Run by the benchmark as
``python -m bench.passthrough --batch-size N`` with the lane's ``FRAUD_*`` settings in the environment
(input: its transactions topic; output: its verdicts topic; group: ``FRAUD_SCORER_GROUP``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings, load_settings
from schemas.codec import Decoded, decode_batch, encode
from schemas.events import Transaction
from schemas.topics import Topics

__all__ = ["main", "passthrough"]


async def passthrough(settings: Settings, batch_size: int, stop: asyncio.Event) -> None:
    """Copy decoded-then-encoded transactions to the verdicts topic until ``stop`` is set."""
    topics = Topics.with_prefix(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        topics.transactions,
        **client_options(settings),
        group_id=settings.scorer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        max_batch_size=512 * 1024,
    )
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=100, max_records=batch_size)
            records = [record for batch in fetched.values() for record in batch]
            if records:
                await _copy(producer, topics.verdicts, records)
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


async def _copy(producer: AIOKafkaProducer, topic: str, records: Sequence[Any]) -> None:
    decoded = decode_batch([record.value for record in records], Transaction, now=datetime.now(UTC))
    deliveries = [
        await producer.send(topic, encode(result.event), key=record.key, partition=record.partition)
        for record, result in zip(records, decoded.results, strict=True)
        if isinstance(result, Decoded)
    ]
    await asyncio.gather(*deliveries)


def main() -> None:
    """Run until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough", description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=500, help="most records per fetch (500)")
    args = parser.parse_args()
    settings = load_settings()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        print(f"passthrough: {settings.topic_prefix}transactions -> verdicts, batches of {args.batch_size}", flush=True)
        await passthrough(settings, args.batch_size, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
