"""Slot buckets of the Redis feature store: which hash tag each key carries.

An entity id (transaction, customer or terminal) falls in bucket ``zlib.crc32(utf-8 id) mod
BUCKETS``. Bucket ``b`` carries the hash tag ``{<n>}``, ``n`` the smallest non-negative integer whose
Redis Cluster hash slot (CRC16 of its decimal digits, mod 16384) lies in the ``b``-th of ``BUCKETS``
equal slot ranges, ``[16384 b / BUCKETS, 16384 (b + 1) / BUCKETS)`` rounded down. So the buckets are
spread evenly over the slots, hence over the masters of a cluster (which own contiguous slot ranges),
and every key of one bucket hashes to one slot. Changing :data:`BUCKETS` changes every key name.
"""

from __future__ import annotations

import zlib
from typing import Final

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

__all__ = ["BUCKETS", "bucket_of", "bucket_tag"]

BUCKETS: Final = 48
"""Number of slot buckets (a multiple of 2 and 3, so 2, 3, 4, 6, 8, 12 or 16 masters get equal shares)."""


def _tags(buckets: int) -> tuple[bytes, ...]:
    tags: list[bytes] = []
    for b in range(buckets):
        lo, hi = REDIS_CLUSTER_HASH_SLOTS * b // buckets, REDIS_CLUSTER_HASH_SLOTS * (b + 1) // buckets
        n = 0
        while not lo <= key_slot(b"%d" % n) < hi:
            n += 1
        tags.append(b"{%d}" % n)
    return tuple(tags)


_TAGS: Final = _tags(BUCKETS)


def bucket_of(entity_id: bytes) -> int:
    """The bucket of an id (its UTF-8 bytes)."""
    return zlib.crc32(entity_id) % BUCKETS


def bucket_tag(bucket: int) -> bytes:
    """The hash tag, braces included, of a bucket."""
    return _TAGS[bucket]
