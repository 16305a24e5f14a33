"""Claims past the claim floor leave Redis a bounded number per call, oldest day first, while the
store answers exactly as the memory twin throughout (a claim below the floor reads as absent, and an
id claimed again in a later day keeps its new claim). Runs on a redis-server of its own."""

from __future__ import annotations

import redis.asyncio as aioredis

from fraudcore.features.buckets import bucket_of
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, TxFacts
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.features.redis_calls import KeyLayout
from fraudcore.features.redis_store import RedisFeatureStore

T0 = 1_700_000_000_000 // DAY_MS * DAY_MS  # a day's start
HORIZON = DEFAULT_SPEC.claim_horizon_ms


def _ids_of_one_bucket(count: int) -> list[str]:
    """``count`` transaction ids of bucket 0."""
    ids: list[str] = []
    n = 0
    while len(ids) < count:
        if bucket_of(b"tx-%d" % n) == 0:
            ids.append(f"tx-{n}")
        n += 1
    return ids


async def test_claims_below_the_floor_are_deleted_a_bounded_number_per_call(
    own_redis: str, admin: aioredis.Redis
) -> None:
    store = RedisFeatureStore.from_url(own_redis, namespace="cl")
    twin = MemoryFeatureStore(DEFAULT_SPEC)
    layout = KeyLayout("cl")
    ids = _ids_of_one_bucket(603)
    old = [
        TxFacts(tx_id, f"card-{i % 7}", f"term-{i % 3}", T0 + i * 1_000, 100 + i) for i, tx_id in enumerate(ids[:600])
    ]
    claims, index = layout.bucket_key(b"claims", ids[0].encode()), layout.bucket_key(b"cday", ids[0].encode())
    old_day = index + b":%d" % (T0 // DAY_MS)
    later = T0 + HORIZON + 2 * DAY_MS  # its claim floor is above the first day

    async def both(batch: list[TxFacts]) -> None:
        assert await store.record_transactions(batch, clock_ms=later) == await twin.record_transactions(
            batch, clock_ms=later
        )

    try:
        await both(old)
        assert await admin.hlen(claims) == 600
        assert await admin.llen(old_day) == 600
        # the floor passes the first day: its claims read as absent at once, 256 leave per call; the
        # last of them is claimed again, in a later day, in the same call
        again = TxFacts(ids[599], "card-x", "term-x", later, 5)
        await both([TxFacts(ids[600], "card-0", "term-0", later, 1), again])
        assert await admin.hlen(claims) == 600 - 256 + 1
        assert await admin.llen(old_day) == 600 - 256
        assert await admin.zscore(index, b"%d" % (T0 // DAY_MS)) is not None
        await both([old[0], old[300]])  # past the claim horizon: not recorded, nothing claimed
        assert await admin.hlen(claims) == 600 - 2 * 256 + 1
        await both([TxFacts(ids[601], "card-0", "term-0", later, 2)])
        await both([TxFacts(ids[602], "card-0", "term-0", later, 3)])
        assert await admin.exists(old_day) == 0
        assert await admin.zscore(index, b"%d" % (T0 // DAY_MS)) is None  # the day left the index
        assert sorted(await admin.hkeys(claims)) == sorted(
            tx_id.encode() for tx_id in [again.transaction_id, *ids[600:]]
        )
        await both([again, old[599]])  # the new claim holds: a redelivery, and the old facts a conflict
    finally:
        await store.close()


async def test_a_call_that_deletes_thousands_of_claims_at_once_completes(own_redis: str, admin: aioredis.Redis) -> None:
    """More stale claims than one Lua ``unpack`` takes (about 8,000) leave in one call, in chunks."""
    store = RedisFeatureStore.from_url(own_redis, namespace="big")
    twin = MemoryFeatureStore(DEFAULT_SPEC)
    ids = _ids_of_one_bucket(13_100)
    claims = KeyLayout("big").bucket_key(b"claims", ids[0].encode())
    later = T0 + HORIZON + 2 * DAY_MS
    old = [TxFacts(tx_id, f"card-{i % 50}", f"term-{i % 20}", T0 + i, 100) for i, tx_id in enumerate(ids[:9_000])]
    new = [TxFacts(tx_id, f"card-{i % 50}", f"term-{i % 20}", later + i, 100) for i, tx_id in enumerate(ids[9_000:])]
    try:
        for batch in (old, new):
            assert await store.record_transactions(batch, clock_ms=later) == await twin.record_transactions(
                batch, clock_ms=later
            )
        assert await admin.hlen(claims) == 9_000 + 4_100 - 2 * 4_100  # twice the rows left in that call
    finally:
        await store.close()


async def test_a_claim_below_the_floor_a_later_row_raised_is_not_written(own_redis: str, admin: aioredis.Redis) -> None:
    """Without a clock, a row may claim a day that a later row of the same call puts below the claim
    floor: that claim is dead at once, so neither it nor its day list is written (nothing to prune)."""
    store = RedisFeatureStore.from_url(own_redis, namespace="dead")
    twin = MemoryFeatureStore(DEFAULT_SPEC)
    a, b, c = _ids_of_one_bucket(3)
    layout = KeyLayout("dead")
    claims, index = layout.bucket_key(b"claims", a.encode()), layout.bucket_key(b"cday", a.encode())
    calls = [
        [TxFacts(a, "card", "term", T0 + 107 * DAY_MS, 1)],
        [TxFacts(b, "card", "term", T0 + 100 * DAY_MS, 2), TxFacts(c, "card", "term", T0 + 108 * DAY_MS, 3)],
    ]
    try:
        for batch in calls:
            assert await store.record_transactions(batch) == await twin.record_transactions(batch)
        assert not await admin.hexists(claims, b)
        assert await admin.exists(index + b":%d" % (T0 // DAY_MS + 100)) == 0
        assert await admin.zscore(index, b"%d" % (T0 // DAY_MS + 100)) is None
        assert await admin.hexists(claims, c)
    finally:
        await store.close()
