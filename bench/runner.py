"""One benchmark run from start to end: data, models, the measurements in order, clean-up.

Each variant runs as a subprocess on its own lane (:mod:`bench.lanes`) over the same encoded
transactions; only one variant runs at a time. The full scorer (4) keeps running into the paced phase
(6, 7) while its memory is sampled (9). Everything the run created — topics, Redis keys, registered
models and their runs, logs — is removed at the end (the logs are kept when a measurement failed).
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.config import BenchConfig
from bench.errors import BenchError
from bench.kafka_io import fill
from bench.lanes import Lane, new_run_id, remove_run
from bench.live import Latency, LivePhase, passthrough_latency, run_live
from bench.memory import MemoryTrend, memory_trend
from bench.models import delete_models, real_bundle, register, trivial_bundle
from bench.offline import BacktestRate, InMemoryRate, backtest_rate, in_memory_rate
from bench.processes import Child, MemorySampler, child_env, free_port
from bench.results import BenchReport, Machine
from bench.throughput import Throughput, measure_throughput
from bench.workload import Backlog, Workload
from fraudcore.models import ModelBundle
from fraudcore.settings import Settings

__all__ = ["command_line", "run_bench"]

_LANES = ("raw", "naive", "frame", "full", "raw-paced", "whole", "two", "backtest")
_READY_TIMEOUT_S = 120.0
_RAW_PACED_SHARE = 0.25
_RAW_PACED_MIN_S = 5.0
"""The raw passthrough's paced phase (6b): a quarter of the scorer's, at least five seconds."""
_RAW_WARM_UP = 2_000
_WARM_UP_SHARE = 0.25
"""The memory trend leaves out the first quarter of the paced phase (buffers and windows filling up)."""


def command_line(config: BenchConfig) -> str:
    """The ``fraudstream bench`` command that repeats a run of ``config``."""
    return (
        f"fraudstream bench --messages {config.messages} --naive-messages {config.naive_messages} "
        f"--partitions {config.partitions} --batch-size {config.batch_size} --live-seconds {config.live_seconds:g} "
        f"--customers {config.customers} --terminals {config.terminals} --model-kind {config.model_kind.value} "
        f"--seed {config.seed}"
    )


class _Run:
    """The state of one run: its lanes, scratch folder and the processes still to stop."""

    def __init__(self, config: BenchConfig, settings: Settings, say: Callable[[str], None]) -> None:
        self.config = config
        self.settings = settings
        self.say = say
        self.run_id = new_run_id()
        self.lanes = {name: Lane.create(settings, self.run_id, name, config) for name in _LANES}
        self.scratch = Path(tempfile.mkdtemp(prefix=f"fraudstream-{self.run_id}-"))
        self.children: list[Child] = []

    def spawn(
        self, lane: Lane, module_args: list[str], *, stdin: bool = False, env: dict[str, str] | None = None
    ) -> Child:
        """Start ``python -m <module_args>`` configured for ``lane``, logging to the scratch folder."""
        data_dir = self.scratch / lane.name
        data_dir.mkdir(exist_ok=True)
        log = self.scratch / f"{lane.name}-{module_args[0]}.log"
        child = Child(module_args, child_env(lane.settings, data_dir, **(env or {})), log, stdin=stdin)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        """Stop every process still running."""
        for child in self.children:
            child.stop()
        self.children.clear()

    def clean_up(self, *, keep_logs: bool) -> None:
        """Stop the processes; delete the run's topics, Redis keys, models and (unless kept) logs."""
        self.stop_all()
        asyncio.run(remove_run(self.settings, self.run_id))
        delete_models(self.lanes["full"].settings, [lane.settings.model_name for lane in self.lanes.values()])
        if keep_logs:
            self.say(f"the processes' logs are kept in {self.scratch}")
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)


def run_bench(config: BenchConfig, settings: Settings, say: Callable[[str], None] = print) -> BenchReport:
    """Run every measurement of ``config`` against the configured Kafka, Redis and MLflow."""
    load_before = os.getloadavg()
    started_at = datetime.now(UTC)
    run = _Run(config, settings, say)
    failed = True
    try:
        report = _measure(run, load_before, started_at)
        failed = False
        return report
    finally:
        say(f"[clean-up] removing the run's topics, Redis keys and models ({run.run_id}.*)")
        run.clean_up(keep_logs=failed)


@dataclass(frozen=True)
class _Prepared:
    """The run's data and models."""

    workload: Workload
    backlog: Backlog
    real: ModelBundle
    full_version: str
    """The real model's version under the full lane's name (the backtest scores with it)."""
    newer_version: str
    """The version the hot-swap promotes."""


def _measure(run: _Run, load_before: tuple[float, float, float], started_at: datetime) -> BenchReport:
    prepared = _prepare(run)
    raw, naive, framework = _throughputs(run, prepared.backlog)
    full, live, memory = _full_scoring(run, prepared)
    raw_latency = _raw_latency(run, prepared, live.latency.target_rate)
    whole_batches = _whole_batches(run, prepared.backlog)
    in_memory, backtest = _offline(run, prepared)
    two_workers = _two_workers(run, prepared.backlog)
    return BenchReport(
        command=command_line(run.config),
        started_at=started_at,
        config=run.config,
        machine=Machine.observe(load_before),
        raw=raw,
        naive=naive,
        framework=framework,
        full=full,
        whole_batches=whole_batches,
        in_memory=in_memory,
        live=live,
        raw_latency=raw_latency,
        backtest=backtest,
        memory=memory,
        two_workers=two_workers,
    )


def _prepare(run: _Run) -> _Prepared:
    config, lanes = run.config, run.lanes
    run.say(f"[setup] run {run.run_id}: simulating {config.messages:,} transactions, fitting the models")
    workload = Workload(config)
    backlog = workload.backlog(config.messages)
    real = real_bundle(backlog.matrix, backlog.is_fraud, config.model_kind, config.seed)
    cut = len(backlog.matrix) * 4 // 5  # the hot-swap's new version: fitted on less data
    newer = real_bundle(backlog.matrix[:cut], backlog.is_fraud[:cut], config.model_kind, config.seed + 1)
    register(lanes["naive"].settings, real, champion=True)
    register(lanes["frame"].settings, trivial_bundle(backlog.matrix, backlog.is_fraud), champion=True)
    full_version = register(lanes["full"].settings, real, champion=True)
    newer_version = register(lanes["full"].settings, newer, champion=False)
    register(lanes["whole"].settings, real, champion=True)
    register(lanes["two"].settings, real, champion=True)
    run.say(f"      {config.model_kind.value} model registered for variants 2, 4 and 10, a trivial one for variant 3")
    return _Prepared(workload, backlog, real, full_version, newer_version)


def _throughputs(run: _Run, backlog: Backlog) -> tuple[Throughput, Throughput, Throughput]:
    config, say = run.config, run.say
    say("(1) raw aiokafka passthrough (consume, decode, encode, produce)")
    raw = _window(run, "raw", backlog, ["bench.passthrough", "--batch-size", str(config.batch_size)])
    say("(2) naive faust scorer: one message at a time, two Redis round trips and predict_proba per message")
    naive_args = ["bench.naive_scorer", "worker", "--web-port", str(free_port())]
    naive = _window(run, "naive", backlog, naive_args, config.naive_messages)
    say("(3) fraudstream scorer, trivial model, features in memory (framework efficiency)")
    framework = _window(run, "frame", backlog, ["fraudstream", "score", "--feature-store", "memory"])
    return raw, naive, framework


def _full_scoring(run: _Run, prepared: _Prepared) -> tuple[Throughput, LivePhase, MemoryTrend]:
    say, lane = run.say, run.lanes["full"]
    say("(4) fraudstream scorer, full scoring (Redis features, the real model, verdicts)")
    samplers: list[MemorySampler] = []

    def start_scorer() -> Child:
        child = run.spawn(lane, ["fraudstream", "score"], env={"FRAUD_SCORER_WEB_PORT": str(free_port())})
        samplers.append(MemorySampler(child.pid))
        return child

    full, scorer = measure_throughput(lane, prepared.backlog.transactions, start_scorer, say)
    say(f"      {_describe(full)}")
    live = _live(run, prepared.workload, scorer, full.rate / 2, prepared.newer_version)
    samples = samplers[0].stop()
    run.stop_all()
    steady = live.began + (live.ended - live.began) * _WARM_UP_SHARE
    memory = memory_trend(samples, steady, live.ended, live.latency.achieved_rate)
    say(f"(9) scorer memory: peak {memory.peak_rss_mb:,.0f} MB, {memory.slope_mb_per_min:+.2f} MB/min")
    return full, live, memory


def _raw_latency(run: _Run, prepared: _Prepared, rate: float) -> Latency:
    """The raw passthrough's latency at the rate of (6): what the Kafka hops alone take on this machine.
    A first window of transactions warms it up (group joined, partitions assigned)."""
    config, lane = run.config, run.lanes["raw-paced"]
    seconds = max(_RAW_PACED_MIN_S, config.live_seconds * _RAW_PACED_SHARE)
    run.say(f"(6b) raw passthrough latency at {rate:,.0f}/s (as 6) for {seconds:g} s")
    warm = prepared.backlog.transactions[:_RAW_WARM_UP]
    args = ["bench.passthrough", "--batch-size", str(config.batch_size)]
    _, passthrough = measure_throughput(lane, warm, lambda: run.spawn(lane, args), run.say)
    records = prepared.workload.more(math.ceil(rate * seconds) + 1)
    latency = passthrough_latency(lane, records, rate, seconds, passthrough, run.say)
    run.stop_all()
    run.say(f"      latency p50 {latency.p50_ms:,.0f} ms, p99 {latency.p99_ms:,.0f} ms, max {latency.max_ms:,.0f} ms")
    return latency


def _whole_batches(run: _Run, backlog: Backlog) -> Throughput:
    """Full scoring as (4), each micro-batch scored as one chunk: what the overlap of the feature store's
    work with the scorer's is worth, side by side."""
    run.say("(4b) as 4, each micro-batch one chunk (Redis and the scorer take turns)")
    chunk = {"FRAUD_SCORER_CHUNK_SIZE": str(run.config.batch_size)}
    return _window(run, "whole", backlog, ["fraudstream", "score"], env=chunk)


def _offline(run: _Run, prepared: _Prepared) -> tuple[InMemoryRate, BacktestRate]:
    say, backlog = run.say, prepared.backlog
    say("(5) in-memory scoring: batch predict_proba on features already computed")
    in_memory = in_memory_rate(prepared.real, backlog.matrix, run.config.batch_size)
    say(f"      {in_memory.rate:,.0f} rows/s")
    say("(8) backtest replay of the same transactions (and their labels) from Kafka")
    lane = run.lanes["backtest"]
    asyncio.run(lane.create_topics())
    asyncio.run(fill(lane.settings, lane.topics.transactions, backlog.transactions))
    asyncio.run(fill(lane.settings, lane.topics.labels, backlog.labels))
    backtest = backtest_rate(lane, run.lanes["full"].settings.model_name, prepared.full_version, backlog)
    say(f"      {backtest.transactions:,} transactions in {backtest.seconds:.1f} s: {backtest.rate:,.0f}/s")
    return in_memory, backtest


def _two_workers(run: _Run, backlog: Backlog) -> Throughput:
    """Full scoring by two workers of one consumer group sharing the partitions (they join together,
    so the window includes their first rebalance)."""
    run.say("(10) scale-out: full scoring by two scorer workers in one consumer group")
    lane = run.lanes["two"]

    def start_two() -> Child:
        first, _second = (
            run.spawn(lane, ["fraudstream", "score"], env={"FRAUD_SCORER_WEB_PORT": str(free_port())}) for _ in range(2)
        )
        return first

    result, _ = measure_throughput(lane, backlog.transactions, start_two, run.say)
    run.stop_all()
    run.say(f"      {_describe(result)}; {result.distinct_keys:,} distinct transaction ids")
    return result


def _window(
    run: _Run,
    lane_name: str,
    backlog: Backlog,
    module_args: list[str],
    count: int | None = None,
    env: dict[str, str] | None = None,
) -> Throughput:
    lane = run.lanes[lane_name]
    records = backlog.transactions[:count] if count is not None else backlog.transactions
    extra = {"FRAUD_SCORER_WEB_PORT": str(free_port())} | (env or {})
    result, child = measure_throughput(lane, records, lambda: run.spawn(lane, module_args, env=extra), run.say)
    child.stop()
    run.children.remove(child)
    run.say(f"      {_describe(result)}")
    return result


def _live(run: _Run, workload: Workload, scorer: Child, rate: float, new_version: str) -> LivePhase:
    config, say, lane = run.config, run.say, run.lanes["full"]
    say(f"(6) end-to-end latency at {rate:,.0f}/s (half of 4) for {config.live_seconds:g} s, same scorer")
    say(f"(7) hot-swap: version {new_version} promoted at the middle of that phase")
    promoter = run.spawn(lane, ["bench.promoter", new_version], stdin=True)
    records = workload.more(math.ceil(rate * config.live_seconds) + 1)
    _wait_for_line(promoter, "ready")
    live = run_live(lane, records, rate, config.live_seconds, scorer, lambda: promoter.tell("go"), new_version, say)
    _wait_for_line(promoter, "promoted")
    latency, swap = live.latency, live.swap
    say(f"      latency p50 {latency.p50_ms:,.0f} ms, p99 {latency.p99_ms:,.0f} ms, p99.9 {latency.p999_ms:,.0f} ms")
    say(
        f"      swap {swap.from_version} -> {swap.to_version} {swap.swap_seconds:.1f} s after the promotion; "
        f"verdict stall {swap.stall_ms} ms (largest gap elsewhere {swap.largest_gap_elsewhere_ms} ms)"
    )
    return live


def _wait_for_line(child: Child, text: str) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while text not in child.log_tail(10_000):
        if not child.alive() or time.monotonic() > deadline:
            raise BenchError(f"the promoter did not say {text!r}:\n{child.log_tail()}")
        time.sleep(0.2)


def _describe(result: Throughput) -> str:
    return (
        f"{result.rate:,.0f}/s: {result.messages:,} outputs in {result.seconds:.1f} s "
        f"(start-up {result.startup_seconds:.1f} s, not counted)"
    )
