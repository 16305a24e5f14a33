"""One throughput window: fill a lane's input topic, start the variant's process, and time its
output from the broker's append timestamps (so the process's start-up is left out)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError
from bench.kafka_io import fill, read_records, wait_for_count
from bench.lanes import Lane
from bench.processes import Child
from bench.stats import window_rate
from bench.workload import Record

__all__ = ["Throughput", "measure_throughput"]


@dataclass(frozen=True)
class Throughput:
    """Outputs per second of one variant over its window."""

    messages: int
    """Output records counted."""
    seconds: float
    """From the first output to the last (broker append times)."""
    rate: float
    """Records after the first output instant, per second of the window."""
    startup_seconds: float
    """From starting the process to its first output (not part of the rate)."""
    distinct_keys: int = 0
    """Distinct output keys: for a scorer the transaction ids (all of them when nothing was lost); the
    passthrough keeps the input's card key."""


def measure_throughput(
    lane: Lane,
    records: Sequence[Record],
    start: Callable[[], Child],
    say: Callable[[str], None],
) -> tuple[Throughput, Child]:
    """Fill, start, wait for one output per input, and measure; the child is left running (the
    caller stops it). Raises :class:`BenchError` when the child stops or stalls."""
    asyncio.run(lane.create_topics())
    asyncio.run(fill(lane.settings, lane.topics.transactions, records))
    say(f"      {len(records):,} transactions in {lane.topics.transactions}; starting the process")
    started_wall_ms = time.time() * 1000
    child = start()
    expected = len(records)
    try:
        asyncio.run(
            wait_for_count(
                lane.settings,
                lane.topics.verdicts,
                expected,
                alive=child.alive,
                timeout_s=300 + expected / 20,  # generous: a loaded machine slows start-up and the naive scorer
                on_status=lambda done: say(f"      {done:,}/{expected:,} outputs"),
            )
        )
    except RuntimeError as error:
        child.stop()
        raise BenchError(f"{lane.name}: {error}\n--- end of its log ---\n{child.log_tail()}") from error
    stamps: list[int] = []
    keys: set[bytes] = set()

    def visit(record: Any) -> None:
        stamps.append(record.timestamp)
        keys.add(record.key)

    asyncio.run(read_records(lane.settings, lane.topics.verdicts, visit))
    try:
        rate = window_rate(stamps)
    except ValueError as error:
        raise BenchError(f"{lane.name}: {error}") from error
    first, last = min(stamps), max(stamps)
    startup = max(first - started_wall_ms, 0.0) / 1000
    result = Throughput(len(stamps), (last - first) / 1000, rate, startup, len(keys))
    return result, child
