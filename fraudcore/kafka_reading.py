"""Reading topics outside any consumer group: the trainer, backtests, the demo's monitor and the
model-event watchers read whole topics (or follow them) without joining or moving a group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings

__all__ = ["groupless_consumer", "topic_partitions"]


def groupless_consumer(settings: Settings, **options: Any) -> AIOKafkaConsumer:
    """An unstarted consumer with no group and no commits (assign partitions yourself)."""
    return AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False, **options)


async def topic_partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` in topic then partition order, from fresh metadata (a topic
    that does not exist contributes none)."""
    await consumer._client.force_metadata_update()
    return [
        TopicPartition(topic, number)
        for topic in topics
        for number in sorted(consumer.partitions_for_topic(topic) or ())
    ]
