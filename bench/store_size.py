"""Redis memory of the feature store over a long, fast simulated stream: is it flat in event time?

Usage: ``python -m bench.store_size [--customers 5000] [--checkpoints 45 90] [--batch 1000] [--phases]``.

Streams the producer's simulator (its cards and terminals, every fraud labelled after the label
delay with its terminal and time, 2% of genuine ones labelled too) straight through
:class:`~fraudcore.features.redis_store.RedisFeatureStore`, as fast as Redis takes it, passing the
stream's clock (the batch's newest event time) as the scorer does. Runs its own ``redis-server`` so
``INFO memory`` counts this store only, and prints at each checkpoint (simulated days) the
``used_memory`` above the empty server, the keys, the bytes per transaction of the longest window
(the transactions of the last 30 simulated days) and the Redis server's CPU per transaction so far.
With ``--phases``, also the Redis main thread's CPU per transaction and per label of each phase's
script calls (``INFO cpu`` read before and after each pipeline, its own cost subtracted), from the
first checkpoint on.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis

from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, LabelFacts, TxFacts, epoch_ms
from fraudcore.features.redis_calls import ScriptCall
from fraudcore.features.redis_store import RedisFeatureStore
from fraudcore.local.redis_server import RedisServer
from fraudcore.settings import Settings
from producer.simulator import SimulationParams, Simulator

__all__ = ["main"]


@dataclass(frozen=True)
class Checkpoint:
    """The store's size after ``days`` simulated days."""

    days: int
    transactions: int
    in_window: int
    used_bytes: int
    keys: int
    redis_cpu_s: float
    """CPU seconds the Redis server used so far (``INFO cpu``, user + system)."""

    @property
    def bytes_per_window_tx(self) -> float:
        return self.used_bytes / max(self.in_window, 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _used_memory(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def _cpu_seconds(client: aioredis.Redis) -> float:
    cpu = await client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def _main_thread_cpu_seconds(client: aioredis.Redis) -> float:
    cpu = await client.info("cpu")
    return float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])


class PhaseTimedStore(RedisFeatureStore):
    """The store, its Redis main thread's CPU seconds summed per phase (the scripts of a pipeline) while
    :attr:`timing`."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        super().__init__(client, DEFAULT_SPEC, namespace)
        self._admin = client
        self.timing = False
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._probe = 0.0

    async def calibrate(self) -> None:
        """Measure what one ``INFO cpu`` read costs the server (the median of 50), to subtract it."""
        spans = []
        for _ in range(50):
            before = await _main_thread_cpu_seconds(self._admin)
            spans.append(await _main_thread_cpu_seconds(self._admin) - before)
        self._probe = sorted(spans)[len(spans) // 2]

    async def _pipeline(self, calls: Sequence[ScriptCall]) -> list[object]:
        if not self.timing:
            return await super()._pipeline(calls)
        before = await _main_thread_cpu_seconds(self._admin)
        replies = await super()._pipeline(calls)
        spent = await _main_thread_cpu_seconds(self._admin) - before - self._probe
        self.seconds[" + ".join(sorted({call.script.name for call in calls}))] += spent
        return replies


@dataclass
class PhaseCounts:
    """What the phase timings of :class:`PhaseTimedStore` cover."""

    transactions: int = 0
    labels: int = 0


async def measure(
    customers: int,
    checkpoints: Sequence[int],
    batch_size: int,
    url: str,
    phases: PhaseCounts | None = None,
    genuine_labels: float = 0.02,
) -> tuple[list[Checkpoint], dict[str, float]]:
    """Stream ``max(checkpoints)`` simulated days into a fresh store at ``url``; the size at each
    checkpoint, and with ``phases`` the Redis CPU seconds of each phase after the first checkpoint
    (counting in ``phases`` the transactions and labels they cover). ``genuine_labels``: the fraction of
    genuine transactions labelled (every fraud is)."""
    spec, window_ms = DEFAULT_SPEC, max(DEFAULT_SPEC.customer_windows_days) * DAY_MS
    params = SimulationParams(seed=0, n_customers=customers, n_terminals=2 * customers, days=max(checkpoints))
    client = aioredis.Redis.from_url(url)
    store = PhaseTimedStore(aioredis.Redis.from_url(url, socket_timeout=60), "size")
    rng = np.random.default_rng(1)
    delay = timedelta(days=spec.label_delay_days)
    pending: deque[LabelFacts] = deque()
    times: deque[int] = deque()
    results: list[Checkpoint] = []
    empty, cpu = await _used_memory(client), await _cpu_seconds(client)
    recorded = 0
    try:
        for day in Simulator(params).days():
            moments = day.event_times(params.start)
            labelled = rng.random(len(moments)) < genuine_labels
            batch: list[TxFacts] = []
            for row, moment in enumerate(moments):
                t = epoch_ms(moment)
                terminal = f"t{int(day.terminal[row]):06d}"
                tx_id = f"tx{recorded + len(batch):010d}"
                batch.append(
                    TxFacts(tx_id, f"c{int(day.customer[row]):06d}", terminal, t, round(100 * day.amount[row]))
                )
                if day.scenario[row] or labelled[row]:
                    pending.append(LabelFacts(tx_id, bool(day.scenario[row]), epoch_ms(moment + delay), terminal, t))
                if len(batch) == batch_size or row == len(moments) - 1:
                    clock = batch[-1].event_time_ms
                    due = []
                    while pending and pending[0].labeled_at_ms <= clock:
                        due.append(pending.popleft())
                    if due:
                        await store.record_labels(due, clock_ms=clock)
                    await store.record_transactions(batch, clock_ms=clock)
                    recorded += len(batch)
                    if phases is not None and store.timing:
                        phases.transactions += len(batch)
                        phases.labels += len(due)
                    times.extend(tx.event_time_ms for tx in batch)
                    batch = []
            while times and times[0] <= times[-1] - window_ms:
                times.popleft()
            if day.day + 1 in checkpoints:
                used = await _used_memory(client) - empty
                keys = int(await client.dbsize())
                spent = await _cpu_seconds(client) - cpu
                results.append(Checkpoint(day.day + 1, recorded, len(times), used, keys, spent))
                if phases is not None and not store.timing:
                    await store.calibrate()
                    store.timing = True
    finally:
        await store.close()
        await client.aclose()
    return results, dict(store.seconds)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.store_size", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5_000, help="simulated cards (terminals: twice as many)")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[45, 90], help="simulated days to measure at")
    parser.add_argument("--batch", type=int, default=1_000, help="transactions per store call")
    parser.add_argument(
        "--phases", action="store_true", help="also the Redis CPU of each phase after the first checkpoint"
    )
    parser.add_argument(
        "--genuine-labels",
        type=_fraction,
        default=0.02,
        help="fraction of genuine transactions labelled (default 0.02; the scorer bench labels all: 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the measurement on a private ``redis-server`` and print its table."""
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), redis_port=_free_port())
        server = RedisServer(settings)
        server.start()
        try:
            began = time.perf_counter()
            phases = PhaseCounts() if args.phases else None
            checkpoints, seconds = asyncio.run(
                measure(
                    args.customers,
                    sorted(args.checkpoints),
                    args.batch,
                    settings.redis_connection_url,
                    phases,
                    args.genuine_labels,
                )
            )
            elapsed = time.perf_counter() - began
        finally:
            server.stop()
    print(f"{args.customers} cards, {2 * args.customers} terminals; {elapsed:.0f} s")
    print(
        "| simulated days | transactions | in the last 30 days | Redis used_memory | keys | bytes / tx in window"
        " | Redis CPU / tx so far |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for c in checkpoints:
        print(
            f"| {c.days} | {c.transactions:,} | {c.in_window:,} | {c.used_bytes / 2**20:,.1f} MiB | {c.keys:,}"
            f" | {c.bytes_per_window_tx:,.0f} | {1e6 * c.redis_cpu_s / c.transactions:,.0f} µs |"
        )
    if len(checkpoints) >= 2:
        first, last = checkpoints[0], checkpoints[-1]
        print(f"memory after {last.days} days / after {first.days} days: {last.used_bytes / first.used_bytes:.2f}")
    if phases is not None and phases.transactions:
        print(
            f"Redis main-thread CPU per phase after day {checkpoints[0].days}"
            f" ({phases.transactions:,} transactions, {phases.labels:,} labels):"
        )
        for name, spent in sorted(seconds.items()):
            per_label = f", {1e6 * spent / phases.labels:,.1f} µs / label" if phases.labels else ""
            print(f"  {name}: {1e6 * spent / phases.transactions:,.1f} µs / tx{per_label}")
        print(f"  all phases: {1e6 * sum(seconds.values()) / phases.transactions:,.1f} µs / tx")


if __name__ == "__main__":
    main()
