"""The one way to open the online feature store from the settings: standalone Redis or a cluster."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec
from fraudcore.features.redis_store import RedisClient, RedisFeatureStore
from fraudcore.redis_auth import redis_credentials
from fraudcore.settings import Settings

__all__ = ["open_feature_store", "open_redis"]


def open_redis(settings: Settings, *, timeout_s: float = 5.0) -> RedisClient:
    """A client for the settings' Redis (a cluster client when ``redis_cluster``), with ``timeout_s``
    connect and socket timeouts. Connecting is lazy: nothing is contacted here."""
    url, credentials = settings.redis_connection_url, redis_credentials(settings)
    if settings.redis_cluster:
        return RedisCluster.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, **credentials)
    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, **credentials)


def open_feature_store(
    settings: Settings, spec: FeatureSpec = DEFAULT_SPEC, namespace: str | None = None, *, timeout_s: float = 5.0
) -> RedisFeatureStore:
    """The Redis feature store of the settings under ``namespace`` (default ``redis_namespace``)."""
    client = open_redis(settings, timeout_s=timeout_s)
    return RedisFeatureStore(client, spec, namespace or settings.redis_namespace)
