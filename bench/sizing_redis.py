"""What the sizing bench reads from Redis: memory and CPU counters, and a census of the store's keys.

The census is layout-agnostic: it scans every key under the store's namespace, groups them in
families by the first segment after the namespace (``<ns>:<family>:...``), samples up to a number of
keys per family uniformly (reservoir sampling) and asks ``MEMORY USAGE <key> SAMPLES 0`` (exact) and
the element count (fields, members; 1 for a string) of each. What a family is keyed by (card,
terminal, transaction or nothing of those: a bucket, a tile) is read from its keys' last segment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis

__all__ = ["KeyFamily", "RedisCounters", "census", "counters"]

_SCAN_COUNT = 10_000
_COUNT_COMMANDS = {b"hash": "HLEN", b"zset": "ZCARD", b"set": "SCARD", b"list": "LLEN", b"stream": "XLEN"}


@dataclass(frozen=True)
class RedisCounters:
    """The server's counters at one moment."""

    used_memory: int
    """``INFO memory`` ``used_memory``: bytes allocated by the server."""
    cpu_seconds: float
    """``INFO cpu`` ``used_cpu_user + used_cpu_sys`` of the server process (snapshot children excluded)."""
    keys: int
    """``DBSIZE``."""


async def counters(client: aioredis.Redis) -> RedisCounters:
    """The server's memory, CPU and key counters now."""
    memory = await client.info("memory")
    cpu = await client.info("cpu")
    keys = await client.dbsize()
    return RedisCounters(
        int(memory["used_memory"]), float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), int(keys)
    )


@dataclass(frozen=True)
class KeyFamily:
    """The keys of one family under the namespace, and what a sample of them weighs."""

    name: str
    keyed_by: str
    """``card``, ``terminal``, ``transaction`` or ``shared`` (by the most common id kind of the sample)."""
    types: str
    """The Redis types seen in the sample, comma-separated."""
    keys: int
    sampled: int
    bytes_per_key: float
    """Mean ``MEMORY USAGE`` of the sampled keys."""
    elements_per_key: float
    """Mean element count (hash fields, set members; 1 for a string) of the sampled keys."""

    @property
    def bytes(self) -> float:
        """Estimated bytes of the whole family: keys x mean bytes per sampled key."""
        return self.keys * self.bytes_per_key

    @property
    def bytes_per_element(self) -> float:
        """Mean bytes per element (key overhead shared out over its elements)."""
        return self.bytes_per_key / self.elements_per_key if self.elements_per_key else 0.0


@dataclass
class _Reservoir:
    size: int
    rng: np.random.Generator
    seen: int = 0
    keys: list[bytes] = field(default_factory=list)

    def offer(self, key: bytes) -> None:
        self.seen += 1
        if len(self.keys) < self.size:
            self.keys.append(key)
            return
        slot = int(self.rng.integers(0, self.seen))
        if slot < self.size:
            self.keys[slot] = key


async def census(
    client: aioredis.Redis, namespace: str, id_kind: Callable[[str], str], *, sample: int, seed: int = 0
) -> list[KeyFamily]:
    """Every key family under ``namespace:``, largest first; ``id_kind`` names the kind of an id
    (``card``, ``terminal``, ``transaction``, anything else counts as ``shared``)."""
    prefix = namespace.encode() + b":"
    rng = np.random.default_rng(seed)
    families: dict[bytes, _Reservoir] = {}
    async for key in client.scan_iter(match=prefix + b"*", count=_SCAN_COUNT):
        name = key[len(prefix) :].split(b":", 1)[0]
        families.setdefault(name, _Reservoir(sample, rng)).offer(key)
    result = [await _weigh(client, name.decode(), reservoir, id_kind) for name, reservoir in families.items()]
    return sorted(result, key=lambda family: family.bytes, reverse=True)


async def _weigh(client: aioredis.Redis, name: str, reservoir: _Reservoir, id_kind: Callable[[str], str]) -> KeyFamily:
    keys = reservoir.keys
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", 0)
        pipe.type(key)
    replies = await pipe.execute()
    sizes = [int(reply or 0) for reply in replies[0::2]]
    types = [reply if isinstance(reply, bytes) else str(reply).encode() for reply in replies[1::2]]
    pipe = client.pipeline(transaction=False)
    counted = [(key, _COUNT_COMMANDS[kind]) for key, kind in zip(keys, types, strict=True) if kind in _COUNT_COMMANDS]
    for key, command in counted:
        pipe.execute_command(command, key)
    counts = [int(reply) for reply in await pipe.execute()] if counted else []
    elements = sum(counts) + (len(keys) - len(counted))
    kinds = Counter(id_kind(key.rsplit(b":", 1)[-1].decode(errors="replace")) for key in keys)
    keyed_by = kinds.most_common(1)[0][0] if kinds else "shared"
    return KeyFamily(
        name=name,
        keyed_by=keyed_by if keyed_by in ("card", "terminal", "transaction") else "shared",
        types=",".join(sorted({kind.decode() for kind in types})),
        keys=reservoir.seen,
        sampled=len(keys),
        bytes_per_key=sum(sizes) / len(keys) if keys else 0.0,
        elements_per_key=elements / len(keys) if keys else 0.0,
    )
