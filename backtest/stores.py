"""The backtest's own feature store, isolated from the live online features.

``memory``: a :class:`~fraudcore.features.memory.MemoryFeatureStore` (the default, and the fastest).
``redis``: the online :class:`~fraudcore.features.redis_store.RedisFeatureStore` code under a
namespace of the backtest's own, never the live ``FRAUD_REDIS_NAMESPACE``; the namespace must hold no
key at the start (recording is idempotent per transaction id, so leftovers would change the
features), and its keys are deleted at the end.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Final

import redis.asyncio as aioredis

from fraudcore.features.definition import FeatureSpec
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.features.open_store import open_feature_store
from fraudcore.features.store import FeatureStore
from fraudcore.redis_auth import redis_credentials
from fraudcore.redis_cleanup import delete_matching
from fraudcore.settings import Settings

__all__ = ["StoreKind", "StoreRefused", "check_namespace", "default_namespace", "isolated_store"]

_NAMESPACE: Final = re.compile(r"[A-Za-z0-9._-]{1,100}")
_DELETE_BATCH: Final = 1_000


class StoreKind(StrEnum):
    """Where the backtest keeps its feature history."""

    MEMORY = "memory"
    REDIS = "redis"


class StoreRefused(Exception):
    """The requested Redis namespace is the live one or already in use."""


def default_namespace(settings: Settings) -> str:
    """A fresh namespace next to the live one: ``<live>-backtest-<8 hex digits>``."""
    return f"{settings.redis_namespace}-backtest-{uuid.uuid4().hex[:8]}"


def check_namespace(namespace: str, settings: Settings) -> None:
    """Refuse a malformed namespace, or the live one (a :class:`StoreRefused` saying why)."""
    if not _NAMESPACE.fullmatch(namespace):
        raise StoreRefused(f"Redis namespace {namespace!r} may hold only 1-100 letters, digits, '.', '_' and '-'")
    if namespace == settings.redis_namespace:
        raise StoreRefused(f"{namespace!r} is the live namespace (FRAUD_REDIS_NAMESPACE): choose another one")


@asynccontextmanager
async def isolated_store(
    kind: StoreKind, settings: Settings, spec: FeatureSpec, namespace: str | None = None
) -> AsyncIterator[FeatureStore]:
    """The store to replay into; a Redis namespace is checked empty first and emptied afterwards."""
    if kind is StoreKind.MEMORY:
        yield MemoryFeatureStore(spec)
        return
    if settings.redis_cluster:
        raise StoreRefused(
            "--store redis replays into a standalone Redis only (FRAUD_REDIS_CLUSTER is set); use --store memory"
        )
    namespace = namespace or default_namespace(settings)
    check_namespace(namespace, settings)
    admin = aioredis.Redis.from_url(
        settings.redis_connection_url, socket_timeout=10, socket_connect_timeout=10, **redis_credentials(settings)
    )
    try:
        if await _holds_keys(admin, namespace):
            raise StoreRefused(f"Redis namespace {namespace!r} already holds keys: choose an unused one")
        store = open_feature_store(settings, spec, namespace, timeout_s=30)
        try:
            yield store
        finally:
            await store.close()
            await _delete_namespace(admin, namespace)
    finally:
        await admin.aclose()


async def _holds_keys(client: aioredis.Redis, namespace: str) -> bool:
    cursor = 0
    while True:
        cursor, keys = await client.scan(cursor, match=f"{namespace}:*", count=_DELETE_BATCH)
        if keys:
            return True
        if cursor == 0:
            return False


async def _delete_namespace(client: aioredis.Redis, namespace: str) -> None:
    await delete_matching(client, f"{namespace}:*")
