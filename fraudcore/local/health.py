"""Health checks that talk to each service with a real client (not just a port probe)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from fraudcore.kafka_diagnosis import connection_problem
from fraudcore.kafka_security import client_options
from fraudcore.redis_auth import RedisAuthRefused, redis_credentials
from fraudcore.redis_eviction import check_eviction
from fraudcore.settings import Settings

__all__ = ["ServiceStatus", "check_kafka", "check_redis"]


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` reports for one service."""

    name: str
    healthy: bool
    where: str
    managed: bool
    detail: str = ""

    def line(self) -> str:
        state = "healthy" if self.healthy else "DOWN"
        origin = "local" if self.managed else "external"
        text = f"{self.name:<6} {state:<8} {origin:<9} {self.where}"
        return f"{text}  ({self.detail})" if self.detail else text


def check_kafka(settings: Settings, timeout_s: float = 5.0) -> str:
    """Raise unless the cluster answers a metadata request; otherwise its broker count."""

    async def describe() -> int:
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
        except KafkaConnectionError as error:
            await admin.close()
            raise KafkaConnectionError(await connection_problem(settings, timeout_s)) from error
        try:
            cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
            return len(cluster["brokers"])
        finally:
            await admin.close()

    brokers = asyncio.run(describe())
    return f"{brokers} broker{'s' if brokers != 1 else ''}"


def check_redis(settings: Settings, timeout_s: float = 5.0) -> str:
    """Raise unless Redis answers PING; otherwise its server version and whether its eviction policy
    can delete feature keys (see :mod:`fraudcore.redis_eviction`)."""
    client = redis.Redis.from_url(
        settings.redis_connection_url, socket_timeout=timeout_s, **redis_credentials(settings)
    )
    try:
        try:
            client.ping()
        except redis.AuthenticationError as error:
            raise RedisAuthRefused(settings, error) from error
        info = client.info("server")
        eviction = check_eviction(client)
        warning = "" if eviction.safe else "WARNING: "
        return f"redis {info.get('redis_version', '?')}; {warning}{eviction.detail}"
    finally:
        client.close()
