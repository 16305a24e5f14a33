"""Deleting the keys of a namespace of one's own (a bench or chaos lane, a backtest) from Redis."""

from __future__ import annotations

import redis.asyncio as aioredis

__all__ = ["delete_matching"]

_BATCH = 1_000


async def delete_matching(client: aioredis.Redis, pattern: str) -> int:
    """Unlink every key matching the glob ``pattern`` (SCAN, a thousand at a time); returns how many."""
    deleted = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=_BATCH):
        batch.append(key)
        if len(batch) >= _BATCH:
            deleted += await client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await client.unlink(*batch)
    return deleted
