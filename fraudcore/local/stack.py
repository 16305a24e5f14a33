"""The local infrastructure as one unit: what ``fraudstream up``, ``status`` and ``down`` do.

A service that the settings point elsewhere (``FRAUD_KAFKA_BOOTSTRAP``, ``FRAUD_REDIS_URL``,
``MLFLOW_TRACKING_URI``) is never started or stopped here, only checked.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from fraudcore import mlflow_store
from fraudcore.local.health import ServiceStatus, check_kafka, check_redis
from fraudcore.local.kafka import KafkaBroker
from fraudcore.local.redis_server import RedisServer
from fraudcore.redaction import redact_urls
from fraudcore.settings import Settings

__all__ = ["LocalStack"]


class LocalStack:
    """Start, check and stop Kafka, Redis and the MLflow store for one settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = KafkaBroker(settings)
        self.redis = RedisServer(settings)

    def prepare(self) -> None:
        """Fetch what starting needs (the broker jars) without starting anything."""
        if self.settings.kafka_is_local:
            self.kafka.fetch_jars()

    def up(self) -> list[ServiceStatus]:
        """Start every local service (idempotent) and return their health."""
        if self.settings.kafka_is_local:
            self.kafka.start()
        if self.settings.redis_is_local:
            self.redis.start()
        client = mlflow_store.connect(self.settings)
        mlflow_store.ensure_experiment(self.settings, client)
        return self.status()

    def status(self) -> list[ServiceStatus]:
        """Health of Kafka, Redis and MLflow, each checked with a real client."""
        s = self.settings
        return [
            _probe("kafka", s.bootstrap_servers, s.kafka_is_local, lambda: check_kafka(s)),
            _probe("redis", redact_urls(s.redis_connection_url), s.redis_is_local, lambda: check_redis(s)),
            _probe("mlflow", redact_urls(s.tracking_uri), s.mlflow_is_embedded, lambda: mlflow_store.check_health(s)),
        ]

    def down(self, wipe: bool = False) -> list[str]:
        """Stop the local services; with ``wipe`` also delete their data. Returns what was stopped."""
        stopped = [name for name, service in (("kafka", self.kafka), ("redis", self.redis)) if service.stop()]
        if wipe:
            self.kafka.wipe()
            self.redis.wipe()
            if self.settings.mlflow_is_embedded:
                shutil.rmtree(self.settings.mlflow_dir, ignore_errors=True)
        return stopped


def _probe(name: str, where: str, managed: bool, check: Callable[[], str]) -> ServiceStatus:
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - any failure of a health check means "not healthy"
        return ServiceStatus(name, False, where, managed, f"{type(exc).__name__}: {exc}".strip())
    return ServiceStatus(name, True, where, managed, detail)
