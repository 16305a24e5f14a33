"""The scorer's CPU per transaction on the full path: Kafka in, ``fraudstream score`` (Redis features,
the sizing model, verdicts) and Kafka out, on the first transactions of the sizing history.

The model is registered (signed) under a model name of the run; the transactions go to a topic of the
run before the worker starts; the worker's CPU time (``/proc/<pid>/stat``: user + system, all its
threads) is read when its first verdicts are in the verdicts topic and when the last is, so its
start-up (imports, model load, group join) is left out. Topics, Redis keys and the model are removed
at the end.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.config import BenchConfig
from bench.errors import BenchError
from bench.kafka_io import fill
from bench.lanes import Lane, remove_run
from bench.models import delete_models, register
from bench.processes import Child, child_env, free_port
from bench.workload import Record
from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.models import ModelBundle
from fraudcore.settings import Settings

__all__ = ["FullPath", "measure_full_path"]

_POLL_S = 0.05
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class FullPath:
    """The worker's CPU over the verdicts after its first ones."""

    transactions: int
    """Transactions sent through the worker."""
    timed: int
    """Verdicts counted in the window (after the first ones seen)."""
    cpu_s: float
    wall_s: float

    @property
    def cpu_us_per_tx(self) -> float:
        """CPU microseconds per transaction in the window."""
        return 1e6 * self.cpu_s / self.timed if self.timed else 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


async def _window(settings: Settings, topic: str, total: int, child: Child, timeout_s: float) -> FullPath:
    consumer = groupless_consumer(settings)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topic])
        deadline, first = time.monotonic() + timeout_s, None
        while True:
            done = int(sum((await consumer.end_offsets(partitions)).values()))
            if first is None and done > 0:
                first = (done, _cpu_seconds(child.pid), time.perf_counter())
            if first is not None and done >= total:
                count, cpu, began = first
                return FullPath(total, done - count, _cpu_seconds(child.pid) - cpu, time.perf_counter() - began)
            if not child.alive() or time.monotonic() > deadline:
                raise BenchError(f"the scorer wrote {done:,} of {total:,} verdicts:\n{child.log_tail()}")
            await asyncio.sleep(_POLL_S)
    finally:
        await consumer.stop()


def measure_full_path(
    settings: Settings,
    run_id: str,
    records: Sequence[Record],
    bundle: ModelBundle,
    batch_size: int,
    scratch: Path,
    say: Callable[[str], None],
) -> FullPath:
    """Score ``records`` with ``fraudstream score`` through Kafka and the settings' Redis; its CPU."""
    lane = Lane.create(settings, run_id, "full", BenchConfig(batch_size=batch_size))
    try:
        register(lane.settings, bundle, champion=True)
        asyncio.run(lane.create_topics())
        asyncio.run(fill(lane.settings, lane.topics.transactions, records))
        say(f"[sizing] full path: {len(records):,} transactions through Kafka and fraudstream score")
        data = scratch / "full"
        data.mkdir(exist_ok=True)
        env = child_env(lane.settings, data, FRAUD_SCORER_WEB_PORT=str(free_port()))
        child = Child(["fraudstream", "score"], env, scratch / "full-score.log")
        try:
            return asyncio.run(
                _window(lane.settings, lane.topics.verdicts, len(records), child, 300 + len(records) / 50)
            )
        finally:
            child.stop()
    finally:
        asyncio.run(remove_run(settings, run_id))
        delete_models(lane.settings, [lane.settings.model_name])
