"""The backtest's Redis store refuses a Redis Cluster with a message saying what to use instead."""

from __future__ import annotations

import pytest

from backtest.stores import StoreKind, StoreRefused, isolated_store
from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.settings import Settings


@pytest.mark.unit
async def test_redis_store_on_a_cluster_is_refused() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:7000/0", redis_cluster=True)
    with pytest.raises(StoreRefused, match="--store memory"):
        async with isolated_store(StoreKind.REDIS, settings, DEFAULT_SPEC):
            pass
