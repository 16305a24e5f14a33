"""What the sizing bench reads from Redis: memory and CPU counters, and a census of the store's keys.

The census is layout-agnostic: it scans every key under the store's namespace, one Redis type at a
time, groups them in families by the first segment after the namespace (``<ns>:<family>:...``) and
their type (so a per-bucket index and the day lists it names, ``<ns>:cday:<tag>`` a zset and
``<ns>:cday:<tag>:<day>`` lists, are two families), samples up to a number of keys per family
uniformly (reservoir sampling) and asks ``MEMORY USAGE <key> SAMPLES 0`` (exact) and the element
count (fields, members; 1 for a string) of each. What a family is keyed by (card, terminal,
transaction or nothing of those: a bucket, a day, a tile) is read from its keys' last segment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis

__all__ = ["KeyFamily", "RedisCounters", "census", "counters"]

_SCAN_COUNT = 10_000
_COUNT_COMMANDS = {"hash": "HLEN", "zset": "ZCARD", "set": "SCARD", "list": "LLEN", "stream": "XLEN"}
_TYPES = ("string", *_COUNT_COMMANDS)


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
    """The Redis type of the family's keys."""
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
    families: dict[tuple[bytes, str], _Reservoir] = {}
    for kind in _TYPES:
        async for key in client.scan_iter(match=prefix + b"*", count=_SCAN_COUNT, _type=kind):
            name = key[len(prefix) :].split(b":", 1)[0]
            families.setdefault((name, kind), _Reservoir(sample, rng)).offer(key)
    result = [
        await _weigh(client, name.decode(), kind, reservoir, id_kind) for (name, kind), reservoir in families.items()
    ]
    return sorted(result, key=lambda family: family.bytes, reverse=True)


async def _weigh(
    client: aioredis.Redis, name: str, kind: str, reservoir: _Reservoir, id_kind: Callable[[str], str]
) -> KeyFamily:
    keys = reservoir.keys
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", 0)
    sizes = [int(reply or 0) for reply in await pipe.execute()]
    elements = len(keys)
    if kind in _COUNT_COMMANDS:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command(_COUNT_COMMANDS[kind], key)
        elements = sum(int(reply) for reply in await pipe.execute())
    kinds = Counter(id_kind(key.rsplit(b":", 1)[-1].decode(errors="replace")) for key in keys)
    keyed_by = kinds.most_common(1)[0][0] if kinds else "shared"
    return KeyFamily(
        name=name,
        keyed_by=keyed_by if keyed_by in ("card", "terminal", "transaction") else "shared",
        types=kind,
        keys=reservoir.seen,
        sampled=len(keys),
        bytes_per_key=sum(sizes) / len(keys) if keys else 0.0,
        elements_per_key=elements / len(keys) if keys else 0.0,
    )
