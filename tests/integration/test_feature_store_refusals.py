"""A Redis that refuses writes (maxmemory reached under noeviction): the store says so with the
refusal's kind, writes nothing half, and the retried batch counts exactly what the memory twin counts.
Runs on a redis-server of its own, whose memory limit the test lowers."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis

from fraudcore.features.definition import DEFAULT_SPEC, Conflict, TxFacts, WindowCounts
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.features.redis_calls import Claim, KeyLayout
from fraudcore.features.redis_store import RedisFeatureStore
from fraudcore.features.store import FeatureStoreUnavailable

T0 = 1_700_000_000_000


def _batch(start: int, count: int) -> list[TxFacts]:
    """One transaction a minute; a card's next one 97 minutes later, in another tile (so a chunk
    recorded again after a refusal gets the counts of its first recording)."""
    return [
        TxFacts(f"tx-{i:05d}", f"card-{i % 97}", f"term-{i % 5}", T0 + i * 60_000, 100 + i)
        for i in range(start, start + count)
    ]


async def _customer_count(admin: aioredis.Redis, key: bytes) -> int:
    """How many transactions a customer's tile string holds: the running count of its last record less
    the header's (the count of its dropped tiles); see the key table of ``redis_store``."""
    raw = await admin.get(key)
    if raw is None:
        return 0
    assert isinstance(raw, bytes)
    header, record = 13, 17
    last = raw[-record + 4 :] if len(raw) > header else raw[:header]
    return int.from_bytes(last[:5], "big", signed=True) - int.from_bytes(raw[:5], "big", signed=True)


async def _claimed(admin: aioredis.Redis, layout: KeyLayout, tx: TxFacts) -> bool:
    tx_id = tx.transaction_id.encode()
    return bool(await admin.hexists(layout.bucket_key(b"claims", tx_id), tx_id))


async def _collect(
    store: RedisFeatureStore, chunks: list[list[TxFacts]], into: list[list[WindowCounts | Conflict]]
) -> None:
    async for counts in store.record_chunks(chunks):
        into.append(counts)


class _FullAfterClaiming(RedisFeatureStore):
    """A store whose Redis reaches its memory limit right after phase A (the claims) of a batch."""

    async def _claim(self, batch: Sequence[TxFacts], *, record: bool, clock_ms: int | None) -> list[Claim | Conflict]:
        claims = await super()._claim(batch, record=record, clock_ms=clock_ms)
        await self._client.config_set("maxmemory", 1)
        return claims


async def test_a_refusal_between_phases_then_the_retry_counts_each_transaction_once(
    own_redis: str, admin: aioredis.Redis
) -> None:
    store = RedisFeatureStore.from_url(own_redis, namespace="oom")
    filling = _FullAfterClaiming(aioredis.Redis.from_url(own_redis), namespace="oom")
    twin = MemoryFeatureStore(DEFAULT_SPEC)
    layout = KeyLayout("oom")
    customer = layout.key(b"csums", b"card-0")
    try:
        warm = _batch(0, 50)
        assert await store.record_transactions(warm) == await twin.record_transactions(warm)
        batch = _batch(50, 400)
        with pytest.raises(FeatureStoreUnavailable, match="out_of_memory") as refused:
            await filling.record_transactions(batch)
        assert refused.value.kind == "out_of_memory"
        claimed = [await _claimed(admin, layout, tx) for tx in batch]
        assert sum(claimed) == len(batch)  # phase A ran whole...
        warm_count = sum(tx.customer_id == "card-0" for tx in warm)
        assert await _customer_count(admin, customer) == warm_count  # ...phase B not at all
        with pytest.raises(FeatureStoreUnavailable, match="out_of_memory"):
            await store.record_transactions(batch)  # still full: refused again, nothing written
        assert await _customer_count(admin, customer) == warm_count
        await admin.config_set("maxmemory", 0)
        assert await store.record_transactions(batch) == await twin.record_transactions(batch)
        assert await store.record_transactions(batch) == await twin.record_transactions(batch)  # a redelivery
        all_count = sum(tx.customer_id == "card-0" for tx in [*warm, *batch])
        assert await _customer_count(admin, customer) == all_count
    finally:
        await store.close()
        await filling.close()


async def test_chunks_refused_midway_resume_where_they_stopped(own_redis: str, admin: aioredis.Redis) -> None:
    store = RedisFeatureStore.from_url(own_redis, namespace="oomc")
    twin = MemoryFeatureStore(DEFAULT_SPEC)
    warm, chunks = _batch(0, 100), [_batch(start, 100) for start in range(100, 3100, 100)]
    try:
        assert await store.record_transactions(warm) == await twin.record_transactions(warm)  # scripts loaded
        used = int((await admin.info("memory"))["used_memory"])
        await admin.config_set("maxmemory", used + 200_000)  # room for about 400 transactions
        done: list[list[WindowCounts | Conflict]] = []
        with pytest.raises(FeatureStoreUnavailable, match="out_of_memory"):
            await _collect(store, chunks, done)
        assert 0 < len(done) < len(chunks)
        await admin.config_set("maxmemory", 0)
        rest = [counts async for counts in store.record_chunks(chunks[len(done) :])]
        assert [*done, *rest] == [await twin.record_transactions(chunk) for chunk in chunks]
    finally:
        await store.close()
