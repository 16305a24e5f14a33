"""Kafka's default partition of many keys at once (murmur2, as the Java client and aiokafka compute it).

aiokafka hashes each key in pure Python (about 6 µs per key here). :func:`default_partitions` does
the same arithmetic for a whole batch with numpy, grouping keys by length, so records sent as
per-partition batches land exactly where ``producer.send(topic, value, key=key)`` would put them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["default_partitions", "murmur2_many"]

_SEED: Final = 0x9747B28C
_M: Final = np.uint32(0x5BD1E995)


def murmur2_many(keys: Sequence[bytes]) -> npt.NDArray[np.uint32]:
    """Kafka's murmur2 hash of every key (``aiokafka.partitioner.murmur2`` for each)."""
    hashes = np.zeros(len(keys), dtype=np.uint32)
    by_length: dict[int, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        by_length[len(key)].append(index)
    for length, indices in by_length.items():
        hashes[indices] = _murmur2_same_length(b"".join(keys[i] for i in indices), len(indices), length)
    return hashes


def _murmur2_same_length(joined: bytes, count: int, length: int) -> npt.NDArray[np.uint32]:
    data = np.frombuffer(joined, dtype=np.uint8).reshape(count, length).astype(np.uint32)
    h: npt.NDArray[Any] = np.full(count, _SEED ^ length, dtype=np.uint32)  # numpy's stubs widen uint32 ops
    whole = length // 4
    for i in range(whole):  # uint32 arithmetic wraps modulo 2**32, as the Java ints do
        k = data[:, 4 * i] | (data[:, 4 * i + 1] << 8) | (data[:, 4 * i + 2] << 16) | (data[:, 4 * i + 3] << 24)
        k = k * _M
        k ^= k >> 24
        k = k * _M
        h = (h * _M) ^ k
    extra = length % 4
    tail = 4 * whole
    if extra >= 3:
        h ^= data[:, tail + 2] << 16
    if extra >= 2:
        h ^= data[:, tail + 1] << 8
    if extra >= 1:
        h ^= data[:, tail]
        h = h * _M
    h ^= h >> 13
    h = h * _M
    h ^= h >> 15
    return h.astype(np.uint32, copy=False)


def default_partitions(keys: Sequence[bytes], partition_count: int) -> npt.NDArray[np.int64]:
    """The partition Kafka's default partitioner gives each key on a topic of ``partition_count``."""
    if partition_count < 1:
        raise ValueError("a topic has at least one partition")
    return (murmur2_many(keys) & np.uint32(0x7FFFFFFF)).astype(np.int64) % partition_count
