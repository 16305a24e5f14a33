"""Reading a topic with aiokafka's ``getmany`` and with the bulk reader, side by side, and decoding.

``python -m bench.bulk_reading [--topic NAME] [--decode N]`` with the usual ``FRAUD_*`` settings
(default topic: the transactions topic of ``FRAUD_TOPIC_PREFIX``): reads the whole topic once with
each client (values only, as the trainer takes them; no decoding) and prints records per second,
then decodes the first N values read (in batches of 20,000, as the trainer does) with
:func:`fraudcore.columnar.decoding.decode_transactions` and with the per-event decoder
(:func:`schemas.codec.decode`, on a tenth of them), in microseconds a value.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from aiokafka import TopicPartition

from fraudcore.columnar.decoding import decode_transactions
from fraudcore.kafka_bulk_reading import BulkReader
from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.settings import Settings
from schemas.codec import decode
from schemas.events import Transaction
from schemas.topics import Topics

_BATCH = 20_000


async def _aiokafka(settings: Settings, topic: str) -> tuple[int, float]:
    consumer = groupless_consumer(settings, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topic])
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        started = time.perf_counter()
        read = 0
        remaining: set[TopicPartition] = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=500, max_records=_BATCH)
            for records in batches.values():
                values = [record.value for record in records]
                read += len(values)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return read, time.perf_counter() - started
    finally:
        await consumer.stop()


def _bulk(settings: Settings, topic: str, keep: int) -> tuple[int, float, list[bytes | None]]:
    with BulkReader(settings, client_id="fraudstream-bench", batch_records=_BATCH) as reader:
        reader.assign(reader.ranges([topic], required=True))
        started = time.perf_counter()
        read = 0
        kept: list[bytes | None] = []
        while not reader.done:
            for batch in reader.read():
                read += len(batch)
                if len(kept) < keep:
                    kept += batch.values[: keep - len(kept)]
        return read, time.perf_counter() - started, kept


def _us_per_value(seconds: float, count: int) -> str:
    return f"{seconds / max(1, count) * 1e6:.2f} µs a value"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", help="topic to read (default: the transactions topic)")
    parser.add_argument("--decode", type=int, default=1_000_000, metavar="N", help="values to decode (1,000,000)")
    args = parser.parse_args()
    settings = Settings()
    topic = args.topic or Topics.with_prefix(settings.topic_prefix).transactions
    read, seconds = asyncio.run(_aiokafka(settings, topic))
    print(f"aiokafka getmany: {read:,} records in {seconds:.1f} s ({read / seconds:,.0f}/s)", flush=True)
    read, seconds, values = _bulk(settings, topic, args.decode)
    print(f"bulk reader:      {read:,} records in {seconds:.1f} s ({read / seconds:,.0f}/s)", flush=True)
    now = datetime.now(UTC)
    started = time.perf_counter()
    rejected = [
        rejection
        for at in range(0, len(values), _BATCH)
        for rejection in decode_transactions(values[at : at + _BATCH], now=now)[1]
    ]
    elapsed = time.perf_counter() - started
    print(
        f"decode_transactions: {len(values):,} values ({len(rejected):,} rejected): "
        f"{_us_per_value(elapsed, len(values))}"
    )
    sample = values[: max(1, len(values) // 10)]
    started = time.perf_counter()
    for raw in sample:
        decode(raw, Transaction, now=now)
    print(f"per-event decode:    {len(sample):,} values: {_us_per_value(time.perf_counter() - started, len(sample))}")


if __name__ == "__main__":
    main()
