"""Real services for the integration tests, started once per pytest run.

Kafka and Redis come from testcontainers when a Docker engine answers, otherwise from the same
local launcher ``fraudstream up`` uses (a Kafka broker from its Maven jars, Debian's redis-server),
on free ports in a temporary data folder. MLflow is the embedded sqlite store in that folder.
A failure to start is an error, never a skip. Each test gets its own topics, consumer group and
Redis key prefix.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from fraudcore.local.redis_cluster import LocalRedisCluster, free_cluster_ports
from fraudcore.local.redis_server import RedisServer
from fraudcore.local.stack import LocalStack
from fraudcore.settings import Settings


def free_port() -> int:
    """A port nothing listens on right now (bind to 0, read it back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def local_settings(data_dir: Path) -> Settings:
    """Settings for a private local stack on free ports, sharing the default jar cache."""
    return Settings(
        data_dir=data_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        redis_port=free_port(),
    )


def _docker_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False  # docker-py leaks a socket when it probes a missing one
    import docker

    try:
        client = docker.from_env(timeout=3)
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no Docker"
        return False
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - as above
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a running Kafka broker, Redis and MLflow store."""
    data_dir = tmp_path_factory.mktemp("fraudstream-data")
    if _docker_answers():
        yield from _containers(data_dir)
        return
    settings = local_settings(data_dir)
    stack = LocalStack(settings)
    try:
        unhealthy = [status.line() for status in stack.up() if not status.healthy]
        assert not unhealthy, f"local services are not healthy: {unhealthy}"
        yield settings
    finally:
        stack.down()


def _containers(data_dir: Path) -> Iterator[Settings]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.redis import RedisContainer

    with KafkaContainer().with_kraft() as kafka, RedisContainer("redis:7.0") as redis_container:
        host, port = redis_container.get_container_host_ip(), redis_container.get_exposed_port(6379)
        yield Settings(
            data_dir=data_dir,
            kafka_bootstrap=kafka.get_bootstrap_server(),
            redis_url=f"redis://{host}:{port}/0",
        )


@pytest.fixture
def unique() -> str:
    """A short unique suffix for this test's topics, consumer groups and keys."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def test_settings(services: Settings, unique: str) -> Settings:
    """The session's settings with a topic prefix of this test's own."""
    return services.model_copy(update={"topic_prefix": f"t{unique}."})


@pytest_asyncio.fixture
async def redis_client(services: Settings) -> AsyncIterator[aioredis.Redis]:
    """An asyncio Redis client on the session's server, closed after the test."""
    client = aioredis.Redis.from_url(services.redis_connection_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """A local three-master Redis Cluster on free ports (a failure to start is an error)."""
    cluster = LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster"), free_cluster_ports(3))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest_asyncio.fixture
async def cluster_client(redis_cluster: LocalRedisCluster) -> AsyncIterator[RedisCluster]:
    """An asyncio Redis Cluster client on the session's cluster, closed after the test."""
    client = RedisCluster.from_url(redis_cluster.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of the test's own (its memory limit and scripts are the test's to change)."""
    settings = Settings(data_dir=tmp_path, redis_port=free_port())
    server = RedisServer(settings)
    server.start()
    try:
        yield settings.redis_connection_url
    finally:
        server.stop()


@pytest_asyncio.fixture
async def admin(own_redis: str) -> AsyncIterator[aioredis.Redis]:
    """A client of :func:`own_redis`."""
    client = aioredis.Redis.from_url(own_redis)
    try:
        yield client
    finally:
        await client.aclose()
