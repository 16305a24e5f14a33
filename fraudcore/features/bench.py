"""Benchmark of the feature stores: Redis µs per transaction by batch size, offline throughput.

Usage: ``python -m fraudcore.features.bench [--redis-url URL] [--cluster] [--history N] …`` (``--help``).

The stream is a handbook-like synthetic one made here (customers paying at a few dozen nearby
terminals, ~0.8% fraud labelled after the label delay), not the producer's simulator: the shared
package does not depend on the apps. The history is recorded under a fresh namespace, then the
timed batches continue the stream; the namespace is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from redis.asyncio.cluster import RedisCluster

from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, LabelFacts, TxFacts, counts_only, feature_matrix
from fraudcore.features.memory import offline_features
from fraudcore.features.open_store import open_feature_store, open_redis
from fraudcore.features.redis_store import RedisClient, RedisFeatureStore
from fraudcore.settings import Settings

__all__ = ["main", "synthetic_stream"]

_START_MS = 1_522_540_800_000  # 2018-04-01T00:00:00Z


@dataclass(frozen=True)
class Stream:
    """Transactions in event-time order and their fraud labels in ``labeled_at`` order."""

    transactions: list[TxFacts]
    labels: list[LabelFacts]


def synthetic_stream(n: int, *, customers: int = 5_000, terminals: int = 10_000, seed: int = 0) -> Stream:
    """``n`` transactions of ``customers`` cards (about two a day each) at ``terminals`` terminals."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0, 4, customers)
    mean_cents = rng.uniform(500, 10_000, customers)
    days = max(1, int(np.ceil(n / rate.sum())))
    customer = rng.choice(customers, size=n, p=rate / rate.sum())
    times = np.sort(_START_MS + rng.integers(0, days * DAY_MS, size=n))
    nearby = rng.integers(0, terminals, size=(customers, 40))
    terminal = nearby[customer, rng.integers(0, 40, size=n)]
    cents = np.abs(rng.normal(mean_cents[customer], mean_cents[customer] / 2)).astype(np.int64)
    fraud = rng.random(n) < 0.008
    delay = DEFAULT_SPEC.label_delay_days * DAY_MS
    columns = zip(customer.tolist(), terminal.tolist(), times.tolist(), cents.tolist(), strict=True)
    transactions = [TxFacts(f"tx{i}", f"c{c}", f"t{m}", t, a) for i, (c, m, t, a) in enumerate(columns)]
    labels = [
        LabelFacts(f"tx{i}", True, int(times[i]) + delay, f"t{terminal[i]}", int(times[i]))
        for i in np.flatnonzero(fraud).tolist()
    ]
    return Stream(transactions, labels)


@dataclass
class _Timings:
    """Seconds per batch."""

    record: list[float] = field(default_factory=list)
    peek: list[float] = field(default_factory=list)
    matrix: list[float] = field(default_factory=list)


async def _feed(
    store: RedisFeatureStore, stream: Stream, batch_size: int, start: int, stop: int, *, peek: bool = False
) -> _Timings:
    """Record transactions ``start:stop`` in batches, the labels due by each batch first; with ``peek``,
    peek each batch before recording it and build its feature matrix."""
    labels = stream.labels
    recorded_until = stream.transactions[start - 1].event_time_ms if start else -1
    next_label = next((i for i, label in enumerate(labels) if label.labeled_at_ms > recorded_until), len(labels))
    timings = _Timings()
    for at in range(start, stop, batch_size):
        batch = stream.transactions[at : min(at + batch_size, stop)]
        due = next_label
        while due < len(labels) and labels[due].labeled_at_ms <= batch[-1].event_time_ms:
            due += 1
        if due > next_label:
            await store.record_labels(labels[next_label:due])
            next_label = due
        if peek:
            began = time.perf_counter()
            await store.peek_transactions(batch)
            timings.peek.append(time.perf_counter() - began)
        began = time.perf_counter()
        counts = await store.record_transactions(batch)
        timings.record.append(time.perf_counter() - began)
        if peek:
            began = time.perf_counter()
            feature_matrix(batch, counts_only(counts))
            timings.matrix.append(time.perf_counter() - began)
    return timings


async def _script_seconds(client: RedisClient) -> float:
    """Server time spent in scripts so far (``INFO commandstats``, summed over a cluster's masters)."""
    if isinstance(client, RedisCluster):
        await client.initialize()  # no-op once the nodes are known
        every = [await client.info("commandstats", target_nodes=node) for node in client.get_primaries()]
    else:
        every = [await client.info("commandstats")]
    names = ("evalsha", "eval")
    return sum(float(stats.get(f"cmdstat_{name}", {}).get("usec", 0)) for stats in every for name in names) / 1e6


def _per_tx(seconds: list[float], size: int) -> str:
    per_tx = sorted(1e6 * s / size for s in seconds)
    return f"median {statistics.median(per_tx):.1f} µs/tx, p90 {per_tx[int(0.9 * (len(per_tx) - 1))]:.1f} µs/tx"


async def _bench_redis(args: argparse.Namespace, stream: Stream) -> None:
    namespace = f"bench:{uuid.uuid4().hex[:12]}"
    settings = Settings(redis_url=args.redis_url, redis_cluster=args.cluster)
    client = open_redis(settings, timeout_s=10)
    store = open_feature_store(settings, DEFAULT_SPEC, namespace, timeout_s=10)
    try:
        history = args.history
        began = time.perf_counter()
        await _feed(store, stream, 1_000, 0, history)
        elapsed = time.perf_counter() - began
        print(f"history: {history} transactions recorded in {elapsed:.1f} s ({1e6 * elapsed / history:.1f} µs/tx)")
        at = history
        for size in args.batch_sizes:
            n = size * args.batches
            server = await _script_seconds(client)
            recorded = await _feed(store, stream, size, at, at + n)
            record_server = await _script_seconds(client) - server
            peeked = await _feed(store, stream, size, at + n, at + 2 * n, peek=True)
            peek_server = await _script_seconds(client) - server - 2 * record_server
            at += 2 * n
            print(f"batch {size}: record {_per_tx(recorded.record, size)} ({args.batches} batches)")
            print(f"batch {size}: peek {_per_tx(peeked.peek, size)}")
            print(f"batch {size}: feature_matrix {_per_tx(peeked.matrix, size)}")
            record_us, peek_us = 1e6 * record_server / n, 1e6 * peek_server / n
            print(f"batch {size}: server script time: record {record_us:.1f} µs/tx, peek ~{peek_us:.1f} µs/tx")
    finally:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=10_000)]
        for at in range(0, len(keys), 10_000):
            await client.unlink(*keys[at : at + 10_000])
        await store.close()
        await client.aclose()


def _bench_offline(stream: Stream, n: int) -> None:
    transactions, labels = stream.transactions[:n], stream.labels
    began = time.perf_counter()
    matrix = offline_features(transactions, labels)
    elapsed = time.perf_counter() - began
    print(f"offline_features: {n} transactions in {elapsed:.1f} s ({n / elapsed:,.0f} tx/s), shape {matrix.shape}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fraudcore.features.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis to use (default: %(default)s)")
    parser.add_argument("--cluster", action="store_true", help="the URL names a node of a Redis Cluster")
    parser.add_argument("--history", type=int, default=200_000, help="transactions recorded before timing")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[500, 1000], help="timed batch sizes")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per size")
    parser.add_argument("--offline", type=int, default=0, help="also time offline_features on this many transactions")
    parser.add_argument("--skip-redis", action="store_true", help="only the offline benchmark")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    args = _parser().parse_args(argv)
    needed = args.history + sum(2 * size * args.batches for size in args.batch_sizes)
    began = time.perf_counter()
    stream = synthetic_stream(max(needed, args.offline), seed=args.seed)
    print(f"stream: {len(stream.transactions)} transactions generated in {time.perf_counter() - began:.1f} s")
    if not args.skip_redis:
        asyncio.run(_bench_redis(args, stream))
    if args.offline:
        _bench_offline(stream, args.offline)


if __name__ == "__main__":
    main()
