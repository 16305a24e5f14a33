"""Redis round trips against the real server, under a key prefix of the test's own."""

from __future__ import annotations

import redis.asyncio as aioredis

from fraudcore.redis_cleanup import delete_matching


async def test_pipeline_round_trip_with_expiry(redis_client: aioredis.Redis, unique: str) -> None:
    prefix = f"test:{unique}:"
    async with redis_client.pipeline(transaction=False) as pipe:
        pipe.hset(f"{prefix}card:1", mapping={"count": 3, "sum": "42.5"})
        pipe.expire(f"{prefix}card:1", 60)
        pipe.zadd(f"{prefix}tx", {"tx-1": 1.0, "tx-2": 2.0})
        await pipe.execute()
    assert await redis_client.hgetall(f"{prefix}card:1") == {b"count": b"3", b"sum": b"42.5"}
    assert 0 < await redis_client.ttl(f"{prefix}card:1") <= 60
    assert await redis_client.zrange(f"{prefix}tx", 0, -1) == [b"tx-1", b"tx-2"]
    keys = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
    assert sorted(keys) == [f"{prefix}card:1".encode(), f"{prefix}tx".encode()]
    await redis_client.delete(*keys)


async def test_delete_matching_unlinks_only_the_matching_keys_across_scan_batches(
    redis_client: aioredis.Redis, unique: str
) -> None:
    doomed, kept = f"test:{unique}:doomed:", f"test:{unique}:kept:"
    await redis_client.mset({f"{doomed}{n}": n for n in range(2_500)} | {f"{kept}{n}": n for n in range(3)})

    assert await delete_matching(redis_client, f"{doomed}*") == 2_500

    assert [key async for key in redis_client.scan_iter(match=f"{doomed}*")] == []
    assert await redis_client.exists(*(f"{kept}{n}" for n in range(3))) == 3
    await redis_client.delete(*(f"{kept}{n}" for n in range(3)))
