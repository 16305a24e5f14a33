"""Scenario: ``kill -9`` the scorer worker again and again under a steady load; nothing may be lost.

A real ``fraudstream score`` process scores a lane of its own (topics, consumer group, Redis namespace
and model under a fresh ``chaos-<id>`` prefix, removed at the end) while transactions are sent at a
fixed rate. Every ``duration / (kills + 1)`` seconds the worker, once ready, gets SIGKILL and a new one
is started at once. After the last transaction, the run waits until every transaction has a verdict
(or a deadline), then reads the verdicts topic back and audits it (:mod:`chaos.audit`). Recovery time
of a kill: from the kill to the next verdict the broker appended.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.config import BenchConfig
from bench.kafka_io import read_records
from bench.lanes import Lane, remove_run
from bench.models import delete_models, real_bundle, register
from bench.processes import Child, child_env, free_port
from bench.workload import Record, Workload
from chaos.audit import Audit, VerdictSeen, audit
from fraudcore.kafka_security import client_options
from fraudcore.model_kind import ModelKind
from fraudcore.settings import Settings

__all__ = ["ChaosError", "KillConfig", "KillResult", "run_kill"]

_READY_TIMEOUT_S = 180.0
_TRAINING_ROWS = 5_000
_SCORED = 'fraudstream_scorer_transactions_total{outcome="scored"}'


class ChaosError(RuntimeError):
    """A scenario could not run to its end (a worker never became ready, verdicts never came)."""


@dataclass(frozen=True)
class KillConfig:
    """Sizes of the kill scenario."""

    transactions: int = 100_000
    rate: float = 400.0
    """Transactions sent per second."""
    kills: int = 10
    partitions: int = 3
    static_membership: bool = False
    """Restarted workers keep one group instance id (``FRAUD_SCORER_INSTANCE_ID``)."""
    seed: int = 0
    drain_timeout_s: float = 300.0
    """How long to wait, after the last transaction, for every verdict."""


@dataclass(frozen=True)
class KillResult:
    """What the scenario measured."""

    config: KillConfig
    audit: Audit
    recovery_s: list[float] = field(default_factory=list)
    """Per kill done: seconds from the kill to the next verdict appended."""
    seconds: float = 0.0
    """From the first transaction sent to the last verdict."""

    def failures(self) -> list[str]:
        """The audit's failures, and kills fewer than asked for."""
        short = self.config.kills - len(self.recovery_s)
        return self.audit.failures() + ([f"kills not done under load: {short}"] if short else [])


def run_kill(base: Settings, config: KillConfig, say: Callable[[str], None]) -> KillResult:
    """Run the scenario against the services ``base`` names; always removes what it created."""
    run_id = f"chaos-{uuid.uuid4().hex[:8]}"
    lane = Lane.create(base, run_id, "kill", BenchConfig(partitions=config.partitions))
    scratch = Path(tempfile.mkdtemp(prefix=f"fraudstream-{run_id}-"))
    try:
        result = _run(lane, config, scratch, say)
        shutil.rmtree(scratch, ignore_errors=True)  # kept when the run failed: the workers' logs
        return result
    finally:
        asyncio.run(remove_run(base, run_id))
        delete_models(lane.settings, [lane.settings.model_name])


def _run(lane: Lane, config: KillConfig, scratch: Path, say: Callable[[str], None]) -> KillResult:
    workload = Workload(BenchConfig(seed=config.seed))
    backlog = workload.backlog(_TRAINING_ROWS)
    version = register(
        lane.settings, real_bundle(backlog.matrix, backlog.is_fraud, ModelKind.BOOSTING, config.seed), champion=True
    )
    records = workload.more(config.transactions)
    asyncio.run(lane.create_topics())
    say(f"model version {version} registered; {len(records):,} transactions at {config.rate:,.0f}/s")
    instance = {"FRAUD_SCORER_INSTANCE_ID": f"{lane.settings.scorer_group}-worker"} if config.static_membership else {}
    workers = _Workers(lane, scratch, instance)
    try:
        workers.start()
        sender = _Sender(lane.settings, lane.topics.transactions, records, config.rate)
        sender.start()
        kill_times = _kill_repeatedly(workers, sender, config.kills, len(records) / config.rate, say)
        sender.join()
        say(f"all {len(records):,} sent; waiting for their verdicts")
        verdicts = _wait_for_verdicts(lane, {r.transaction_id for r in records}, config.drain_timeout_s, workers)
    finally:
        workers.stop()
    result = audit({r.transaction_id for r in records}, verdicts, {version})
    appended = sorted(v.appended_ms for v in verdicts)
    recovery = [_next_after(appended, at_ms) for at_ms in kill_times]
    seconds = (appended[-1] - sender.began_ms) / 1000 if appended else 0.0
    return KillResult(config, result, recovery, seconds)


class _Workers:
    """The one scorer worker of the lane, restartable; its logs kept in ``scratch``."""

    def __init__(self, lane: Lane, scratch: Path, extra_env: dict[str, str]) -> None:
        self._lane, self._scratch, self._extra_env = lane, scratch, extra_env
        self._started = 0
        self.current: Child | None = None
        self.port = 0

    def start(self) -> None:
        self._started += 1
        self.port = free_port()
        env = child_env(
            self._lane.settings, self._scratch / "data", FRAUD_SCORER_WEB_PORT=str(self.port), **self._extra_env
        )
        self.current = Child(["fraudstream", "score"], env, self._scratch / f"worker-{self._started}.log")

    def wait_scoring(self) -> None:
        """Wait until the current worker scored at least one transaction."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        child = self.current
        assert child is not None
        while _scored(self.port) < 1:
            if not child.alive() or time.monotonic() > deadline:
                raise ChaosError(f"scorer worker did not score\n--- end of its log ---\n{child.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> int:
        """SIGKILL the worker; returns the kill time (epoch ms)."""
        child = self.current
        assert child is not None
        at_ms = int(time.time() * 1000)
        os.kill(child.pid, signal.SIGKILL)
        child.process.wait(30)
        child.stop()
        return at_ms

    def alive(self) -> bool:
        return self.current is not None and self.current.alive()

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


def _scored(port: int) -> float:
    """The worker's count of scored transactions (0 while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(_SCORED))


def _kill_repeatedly(
    workers: _Workers, sender: _Sender, kills: int, duration_s: float, say: Callable[[str], None]
) -> list[int]:
    """Kill at even intervals while transactions are sent, each time once the worker scored again."""
    began, interval = time.monotonic(), duration_s / (kills + 1)
    kill_times: list[int] = []
    for n in range(1, kills + 1):
        time.sleep(max(began + n * interval - time.monotonic(), 0.0))
        workers.wait_scoring()  # a kill before it recovered would test nothing the previous one did not
        if not sender.is_alive():
            say(f"every transaction was sent after {n - 1} kills: --rate too high for {kills} kills")
            break
        kill_times.append(workers.kill())
        workers.start()
        say(f"kill {n}/{kills} at {sender.sent:,} sent; worker restarted")
    return kill_times


class _Sender(threading.Thread):
    """Sends the records at a fixed rate (record timestamp = send time) in a thread of its own."""

    def __init__(self, settings: Settings, topic: str, records: Sequence[Record], rate: float) -> None:
        super().__init__(name="chaos-sender", daemon=True)
        self._settings, self._topic, self._records, self._rate = settings, topic, records, rate
        self.sent = 0
        self.began_ms = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as error:  # noqa: BLE001 - reported by join()
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise ChaosError(f"sending transactions failed: {self.error!r}") from self.error

    async def _send(self) -> None:
        producer = AIOKafkaProducer(**client_options(self._settings), acks="all", enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            loop = asyncio.get_running_loop()
            began = loop.time()
            self.began_ms = int(time.time() * 1000)
            for index, record in enumerate(self._records):
                wait = began + index / self._rate - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await producer.send(self._topic, record.value, key=record.key)
                self.sent = index + 1
            await producer.flush()
        finally:
            await producer.stop()


def _wait_for_verdicts(lane: Lane, expected: set[str], timeout_s: float, workers: _Workers) -> list[VerdictSeen]:
    deadline = time.monotonic() + timeout_s
    while True:
        verdicts = _read_verdicts(lane)
        if expected <= {v.transaction_id for v in verdicts} or time.monotonic() > deadline:
            return verdicts
        if not workers.alive():
            raise ChaosError("the scorer worker stopped before every transaction had a verdict")
        time.sleep(3)


def _read_verdicts(lane: Lane) -> list[VerdictSeen]:
    seen: list[VerdictSeen] = []

    def visit(record: Any) -> None:
        body = json.loads(record.value)
        seen.append(
            VerdictSeen(body["transaction_id"], str(body["model_version"]), body["feature_digest"], record.timestamp)
        )

    asyncio.run(read_records(lane.settings, lane.topics.verdicts, visit))
    return seen


def _next_after(appended_ms: list[int], at_ms: int) -> float:
    """Seconds from ``at_ms`` to the first append after it (``nan`` when none)."""
    from bisect import bisect_right

    index = bisect_right(appended_ms, at_ms)
    return (appended_ms[index] - at_ms) / 1000 if index < len(appended_ms) else float("nan")
