"""Health checks that talk to each service with a real client (not just a port probe), and the checks a
command makes before it uses a service: each bounded by ``FRAUD_SERVICE_WAIT_S``, each failure a
:class:`ServiceUnreachable` whose message names the service and the variable to check."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import redis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from fraudcore.kafka_diagnosis import connection_problem
from fraudcore.kafka_security import client_options
from fraudcore.local.errors import InfraError
from fraudcore.redaction import redact_urls
from fraudcore.redis_auth import RedisAuthRefused, redis_credentials
from fraudcore.redis_eviction import check_eviction
from fraudcore.settings import Settings

__all__ = ["ServiceStatus", "ServiceUnreachable", "check_kafka", "check_redis", "require_kafka", "require_redis"]


class ServiceUnreachable(InfraError):
    """A service a command needs does not answer within the bound (``FRAUD_SERVICE_WAIT_S``)."""


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
    """Raise unless the cluster answers a metadata request within about ``timeout_s`` (a failure is
    explained by :func:`~fraudcore.kafka_diagnosis.connection_problem` in the time left, at least 1 s);
    otherwise its broker count."""

    async def describe() -> int:
        started = time.monotonic()
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
        try:
            await asyncio.wait_for(admin.start(), timeout_s * 0.6)
        except (KafkaConnectionError, TimeoutError) as error:
            await admin.close()
            left = max(1.0, timeout_s - (time.monotonic() - started))
            raise KafkaConnectionError(await connection_problem(settings, left)) from error
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
        settings.redis_connection_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        **redis_credentials(settings),
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


def require_kafka(settings: Settings) -> None:
    """Raise :class:`ServiceUnreachable` unless Kafka answers within ``settings.service_wait_s``."""
    wait_s = settings.service_wait_s
    try:
        check_kafka(settings, wait_s)
    except Exception as exc:  # noqa: BLE001 - whatever the client raised, Kafka did not answer
        raise ServiceUnreachable(
            f"Kafka at {settings.bootstrap_servers} does not answer (waited at most {wait_s:g} s, "
            f"FRAUD_SERVICE_WAIT_S): {_reason(exc)}; start it with `fraudstream up` or point "
            "FRAUD_KAFKA_BOOTSTRAP at your cluster"
        ) from None


def require_redis(settings: Settings) -> None:
    """Raise :class:`ServiceUnreachable` unless Redis answers within ``settings.service_wait_s``
    (refused credentials: :class:`~fraudcore.redis_auth.RedisAuthRefused`)."""
    wait_s = settings.service_wait_s
    try:
        check_redis(settings, wait_s)
    except RedisAuthRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the client raised, Redis did not answer
        raise ServiceUnreachable(
            f"Redis at {redact_urls(settings.redis_connection_url)} does not answer (waited at most {wait_s:g} s, "
            f"FRAUD_SERVICE_WAIT_S): {_reason(exc)}; start it with `fraudstream up` or point FRAUD_REDIS_URL "
            "at your server"
        ) from None


def _reason(error: Exception) -> str:
    text, kind = str(error).strip(), type(error).__name__
    while text.startswith(f"{kind}: "):  # aiokafka's errors start with their class name, sometimes twice
        text = text.removeprefix(f"{kind}: ")
    return text or kind
