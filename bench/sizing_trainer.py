"""The trainer's peak memory on the sizing history: ``fraudstream train --once`` as a child process on
topics of the run's own, filled with the history's events: the largest ``VmHWM`` (the kernel's peak
resident memory of the process) read from ``/proc`` every 0.1 s until it exits. Not ``ru_maxrss``:
a child's starts at its parent's resident memory when it was forked, here the whole history.

It runs twice: on the events streamed by the end of day N/2, then (after the rest is added) on all of
them. The difference of the two peaks over the difference of the transactions held is the memory
each transaction held costs, without the fixed cost of the interpreter, libraries and model fitting.
Exit code 1 of the trainer (the history does not cover its windows yet) still measures reading the
history and is reported as such; any other failure is a :class:`~bench.errors.BenchError`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.kafka_io import fill, wait_until_served
from bench.processes import MemorySampler
from bench.workload import Record
from fraudcore.kafka_admin import admin_client, ensure_project_topics
from fraudcore.settings import ENV_PREFIX, Settings, child_environment

__all__ = ["TrainerRun", "delete_topics", "fill_and_train", "fill_topics", "run_trainer"]

_NOT_ENOUGH_HISTORY = 1
_SAMPLE_EVERY_S = 0.1


@dataclass(frozen=True)
class TrainerRun:
    """One ``fraudstream train --once`` on the history streamed by the end of a day."""

    day: int
    """Days of history (the run read the events of days ``0 .. day - 1``)."""
    transactions_read: int
    peak_rss_bytes: int
    seconds: float
    exit_code: int
    """0: trained; 1: read the history, which does not cover the training windows yet."""


async def fill_topics(settings: Settings, records: Sequence[tuple[bool, Record]]) -> None:
    """Create the project's topics under ``settings``' prefix and append ``records`` to them."""
    topics = await ensure_project_topics(settings)
    await wait_until_served(settings, [topics.transactions, topics.labels])
    await fill(settings, topics.transactions, [record for is_label, record in records if not is_label])
    await fill(settings, topics.labels, [record for is_label, record in records if is_label])


async def delete_topics(settings: Settings) -> None:
    """Delete every topic under ``settings``' prefix."""
    async with admin_client(settings) as admin:
        doomed = [name for name in await admin.list_topics() if name.startswith(settings.topic_prefix)]
        if doomed:
            await admin.delete_topics(doomed)


def run_trainer(settings: Settings, day: int, transactions: int, log: Path) -> TrainerRun:
    """``fraudstream train --once`` configured by ``settings`` alone, its output in ``log``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    env |= child_environment(settings)
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    began = time.perf_counter()
    with log.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "fraudstream", "train", "--once"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        sampler = MemorySampler(child.pid, interval_s=_SAMPLE_EVERY_S)
        code = child.wait()
        samples = sampler.stop()
    seconds = time.perf_counter() - began
    if code not in (0, _NOT_ENOUGH_HISTORY):
        tail = log.read_text(errors="replace")[-3000:]
        raise BenchError(f"fraudstream train --once exited with {code} on {day} days of history:\n{tail}")
    if not samples:
        raise BenchError(f"fraudstream train --once on {day} days of history ended before its memory was read")
    return TrainerRun(day, transactions, max(sample.hwm_kb for sample in samples) * 1024, seconds, code)


def fill_and_train(
    settings: Settings, records: Sequence[tuple[bool, Record]], cuts: Sequence[tuple[int, int, int]], logs: Path
) -> list[TrainerRun]:
    """For each ``(day, events, transactions held)`` in ``cuts`` (growing): add the records up to
    ``events`` to the topics, then run the trainer."""
    runs, filled = [], 0
    for day, events, held in cuts:
        asyncio.run(fill_topics(settings, records[filled:events]))
        filled = events
        runs.append(run_trainer(settings, day, held, logs / f"train-day{day}.log"))
    return runs
