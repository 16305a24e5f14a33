"""The hot-swap trigger of ``fraudstream bench``, in a process of its own so the benchmark's paced
producer never waits for it: ``python -m bench.promoter VERSION`` (lane settings in the environment)
connects to the registry and Kafka, prints ``ready``, waits for a line on standard input, then does
what the trainer does on a promotion (:func:`trainer.publishing.move_champion`: ``champion`` ← VERSION,
then the reload event) and prints ``promoted``.
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka import AIOKafkaProducer

from fraudcore.kafka_security import client_options
from fraudcore.settings import load_settings
from trainer.publishing import move_champion

__all__ = ["main"]


async def _promote(version: str) -> None:
    from fraudcore.mlflow_store import connect

    settings = load_settings()
    client = connect(settings)
    client.get_registered_model(settings.model_name)  # the registry answers: connected
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        previous = await move_champion(producer, client, settings, version, "fraudstream bench: hot-swap")
        print(f"promoted {version} (was {previous})", flush=True)
    finally:
        await producer.stop()


def main() -> None:
    """Promote the version named on the command line when told to."""
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bench.promoter VERSION")
    asyncio.run(_promote(sys.argv[1]))


if __name__ == "__main__":
    main()
