"""Each variant's own resources: topic prefix, consumer group, Redis namespace and model name, all
under the run's prefix, so that nothing interferes; and removing them all at the end.

Output topics (``verdicts`` of each lane) stamp records with the broker's append time
(``LogAppendTime``): a verdict's timestamp is when the broker accepted it, the same clock for every
variant, whichever producer wrote it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from bench.config import BenchConfig
from bench.kafka_io import wait_until_served
from fraudcore.kafka_admin import TopicSpec, admin_client, ensure_topics, project_topic_specs
from fraudcore.redis_auth import redis_credentials
from fraudcore.redis_cleanup import delete_matching
from fraudcore.settings import Settings
from schemas.topics import Topics

__all__ = ["Lane", "new_run_id", "remove_run"]

_APPEND_TIME = (("message.timestamp.type", "LogAppendTime"),)


def new_run_id() -> str:
    """A fresh run identifier (``bench-`` and 8 hex digits)."""
    return f"bench-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Lane:
    """One variant's isolated settings (derived from the user's)."""

    name: str
    settings: Settings

    @classmethod
    def create(cls, base: Settings, run_id: str, name: str, config: BenchConfig) -> Lane:
        """The lane ``name`` of run ``run_id``: every name it uses starts with the run's prefix."""
        prefix = f"{base.topic_prefix}{run_id}.{name}"
        settings = base.derived(
            topic_prefix=f"{prefix}.",
            scorer_group=prefix,
            redis_namespace=f"{run_id}.{name}",
            model_name=f"{base.model_name}-{run_id}-{name}",
            mlflow_experiment=f"{base.mlflow_experiment}-bench",
            topic_partitions=config.partitions,
            scorer_batch_size=config.batch_size,
        )
        return cls(name, settings)

    @property
    def topics(self) -> Topics:
        """The lane's topic names."""
        return Topics.with_prefix(self.settings.topic_prefix)

    async def create_topics(self) -> None:
        """Create the lane's topics (as the project's); the verdicts topic stamps records with their append time."""
        specs = [
            TopicSpec(spec.name, spec.partitions, configs=spec.configs + _APPEND_TIME)
            if spec.name == self.topics.verdicts
            else spec
            for spec in project_topic_specs(self.topics, self.settings.topic_partitions)
        ]
        await ensure_topics(self.settings, specs)
        await wait_until_served(self.settings, self.topics.all())


async def remove_run(base: Settings, run_id: str) -> None:
    """Delete every topic (Faust's internal ones too) and Redis key of the run."""
    prefix = f"{base.topic_prefix}{run_id}."
    async with admin_client(base) as admin:
        doomed = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    client = aioredis.Redis.from_url(
        base.redis_connection_url, socket_timeout=30, socket_connect_timeout=10, **redis_credentials(base)
    )
    try:
        await delete_matching(client, f"{run_id}.*")
    finally:
        await client.aclose()
