"""Topic administration against the configured Kafka cluster (aiokafka's admin client)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from fraudcore.kafka_diagnosis import connection_problem
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings
from schemas.dead_letter import DEAD_LETTER_MAX_BYTES
from schemas.topics import Topics

__all__ = [
    "DEAD_LETTER_RECORD_BYTES",
    "TopicSpec",
    "admin_client",
    "delete_topics",
    "ensure_project_topics",
    "ensure_topics",
    "project_topic_specs",
    "project_topics",
]

DEAD_LETTER_RECORD_BYTES: Final = DEAD_LETTER_MAX_BYTES + 64 * 1024
"""Largest record of the dead-letter topic (its ``max.message.bytes``, and what a producer of dead letters
must allow): a dead letter at its size limit plus the record's framing. A dead letter carries its
original in base64 (4/3 of its size), so the dead letter of a record near the broker's default limit
(1 MiB) is over that limit: with the default the broker refuses it, and the scorer would resend it
forever, its partition stalled."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: name, partition count, replication factor and topic configs."""

    name: str
    partitions: int = 3
    replication_factor: int = 1
    configs: tuple[tuple[str, str], ...] = ()


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client for the configured cluster, closed on exit."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        await admin.start()
    except KafkaConnectionError as error:
        await admin.close()
        raise KafkaConnectionError(f"{error}: {await connection_problem(settings)}") from error
    try:
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        new_topics = [
            NewTopic(spec.name, spec.partitions, spec.replication_factor, topic_configs=dict(spec.configs))
            for spec in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently: the goal is reached
            await admin.create_topics(new_topics)
        return [spec.name for spec in missing]


async def delete_topics(settings: Settings, names: Iterable[str]) -> None:
    """Delete the named topics that exist."""
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            await admin.delete_topics(doomed)


def project_topics(settings: Settings) -> Topics:
    """The fraudstream topic names under the configured prefix."""
    return Topics.with_prefix(settings.topic_prefix)


def project_topic_specs(topics: Topics, partitions: int) -> list[TopicSpec]:
    """The specs of the fraudstream topics: the dead-letter topic takes records of
    :data:`DEAD_LETTER_RECORD_BYTES`."""
    letters = (("max.message.bytes", str(DEAD_LETTER_RECORD_BYTES)),)
    return [
        TopicSpec(name, partitions=partitions, configs=letters if name == topics.dead_letters else ())
        for name in topics.all()
    ]


async def ensure_project_topics(settings: Settings) -> Topics:
    """Create any missing fraudstream topic (``topic_partitions`` partitions each); returns the names."""
    topics = project_topics(settings)
    await ensure_topics(settings, project_topic_specs(topics, settings.topic_partitions))
    return topics
