"""What every fault scenario shares: a lane of its own, the model, a restartable scorer worker, a paced
sender, and reading the verdicts back for the audit (:mod:`chaos.audit`).

A scenario runs in a lane: topics, consumer group, Redis namespace and model under a fresh
``chaos-<id>`` prefix (removed at the end), the scorer's workers as real ``fraudstream score``
processes whose logs are kept when the run fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError

from bench.config import BenchConfig
from bench.kafka_io import read_records
from bench.lanes import Lane, remove_run
from bench.models import delete_models, real_bundle, register
from bench.processes import Child, child_env, free_port
from bench.workload import Record, Workload
from chaos.audit import Audit, VerdictSeen, audit
from fraudcore.kafka_renewing_producer import REFUSED_PRODUCER_STATE, RenewingProducer
from fraudcore.kafka_security import client_options
from fraudcore.model_kind import ModelKind
from fraudcore.settings import Settings

__all__ = [
    "ChaosError",
    "Live",
    "Load",
    "Outcome",
    "ScenarioResult",
    "Sender",
    "Workers",
    "chaos_lane",
    "next_after",
    "run_under_load",
]

_READY_TIMEOUT_S = 180.0
_TRAINING_ROWS = 5_000
_SCORED = 'fraudstream_scorer_transactions_total{outcome="scored"}'
_RESEND_PAUSE_S = 0.5
_SEND_TIMEOUT_MS = 10_000
"""A send waits at most this long for room in a full record batch (the broker away), then is made again."""


class ChaosError(RuntimeError):
    """A scenario could not run to its end (a worker never scored, verdicts never came)."""


@dataclass(frozen=True)
class Load:
    """The steady load of a scenario."""

    transactions: int = 100_000
    rate: float = 400.0
    """Transactions sent per second."""
    partitions: int = 3
    seed: int = 0
    drain_timeout_s: float = 300.0
    """How long to wait, after the last transaction, for every verdict."""

    @property
    def seconds(self) -> float:
        """How long sending takes."""
        return self.transactions / self.rate


@dataclass(frozen=True)
class ScenarioResult:
    """What a scenario measured: the audit, and the recovery time after each fault injected."""

    scenario: str
    """What was done, in words (for the report)."""
    load: Load
    audit: Audit
    faults_asked: int
    recovery_s: list[float] = field(default_factory=list)
    """Per fault injected: seconds from the fault's end to the next verdict appended."""
    seconds: float = 0.0
    """From the first transaction sent to the last verdict."""
    figures: dict[str, str] = field(default_factory=dict)
    """Scenario-specific figures (name → value), reported as they are."""
    tables: list[str] = field(default_factory=list)
    """Scenario-specific Markdown tables, reported after the figures."""
    missed: list[str] = field(default_factory=list)
    """Scenario-specific targets missed, in words."""

    def failures(self) -> list[str]:
        """The audit's failures, faults fewer than asked for, and the scenario's own targets missed."""
        short = self.faults_asked - len(self.recovery_s)
        return self.audit.failures() + ([f"faults not injected under load: {short}"] if short else []) + self.missed


@contextmanager
def chaos_lane(base: Settings, name: str, load: Load) -> Iterator[tuple[Lane, Path]]:
    """A fresh lane and a scratch folder; removes the lane's topics, keys and model at the end, and the
    scratch folder (the workers' logs) unless the run failed."""
    run_id = f"chaos-{uuid.uuid4().hex[:8]}"
    lane = Lane.create(base, run_id, name, BenchConfig(partitions=load.partitions))
    scratch = Path(tempfile.mkdtemp(prefix=f"fraudstream-{run_id}-"))
    try:
        yield lane, scratch
        shutil.rmtree(scratch, ignore_errors=True)
    finally:
        asyncio.run(remove_run(base, run_id))
        delete_models(lane.settings, [lane.settings.model_name])


def _prepare(lane: Lane, load: Load, versions: int, say: Callable[[str], None]) -> tuple[list[str], list[Record]]:
    """Register ``versions`` models (the trainer's estimator on the stream's first transactions, one seed
    each; the first is champion), create the lane's topics; returns the versions and the transactions."""
    workload = Workload(BenchConfig(seed=load.seed))
    backlog = workload.backlog(_TRAINING_ROWS)
    registered = [
        register(
            lane.settings,
            real_bundle(backlog.matrix, backlog.is_fraud, ModelKind.BOOSTING, load.seed + n),
            champion=n == 0,
        )
        for n in range(versions)
    ]
    records = workload.more(load.transactions)
    asyncio.run(lane.create_topics())
    say(f"model versions {', '.join(registered)} registered; {len(records):,} transactions at {load.rate:,.0f}/s")
    return registered, records


@dataclass(frozen=True)
class Live:
    """A run under load, as the fault sees it."""

    lane: Lane
    workers: Workers
    sender: Sender
    versions: list[str]
    """The registered (validated) model versions; the first is the champion at the start."""


@dataclass(frozen=True)
class Outcome:
    """What came out of a run under load, ready to be audited."""

    verdicts: list[VerdictSeen]
    expected: set[str]
    """The transactions that must get a verdict (the valid ones sent)."""
    versions: list[str]
    """The registered versions, the only validated ones."""
    began_ms: int
    """When the first transaction was sent."""

    def appended_ms(self) -> list[int]:
        """The verdicts' append times, in order."""
        return sorted(verdict.appended_ms for verdict in self.verdicts)

    def result(
        self,
        scenario: str,
        load: Load,
        faults_asked: int,
        fault_ends_ms: list[int],
        figures: dict[str, str],
        *,
        invalid_values: Set[bytes] = frozenset(),
        dead_letters: Mapping[bytes, str] | None = None,
        tables: Sequence[str] = (),
        missed: Sequence[str] = (),
    ) -> ScenarioResult:
        """The audit (of the invalid inputs sent too, if any), with the recovery after each fault (its end →
        the next verdict)."""
        appended = self.appended_ms()
        return ScenarioResult(
            scenario=scenario,
            load=load,
            audit=audit(
                self.expected,
                self.verdicts,
                set(self.versions),
                invalid_values=invalid_values,
                dead_letters=dead_letters,
            ),
            faults_asked=faults_asked,
            recovery_s=[next_after(appended, at_ms) for at_ms in fault_ends_ms],
            seconds=(appended[-1] - self.began_ms) / 1000 if appended else 0.0,
            figures=figures,
            tables=list(tables),
            missed=list(missed),
        )


def run_under_load(
    lane: Lane,
    scratch: Path,
    load: Load,
    say: Callable[[str], None],
    inject: Callable[[Live], None],
    worker_env: dict[str, str] | None = None,
    versions: int = 1,
    mix: Callable[[list[Record]], tuple[list[Record], set[str]]] | None = None,
    setup: Callable[[Lane], None] | None = None,
) -> Outcome:
    """Register ``versions`` models, start a worker and the paced sender, call ``inject`` (the fault)
    while transactions are sent, then wait for every verdict (or the deadline) and read them back.
    ``mix`` turns the valid transactions into what is sent and the transactions that must get a verdict;
    ``setup`` runs once the models are registered, before the worker starts."""
    registered, records = _prepare(lane, load, versions, say)
    records, expected = mix(records) if mix is not None else (records, {r.transaction_id for r in records})
    if setup is not None:
        setup(lane)
    workers = Workers(lane, scratch, worker_env or {})
    try:
        workers.start()
        sender = Sender(lane.settings, lane.topics.transactions, records, load.rate)
        sender.start()
        inject(Live(lane, workers, sender, registered))
        sender.join()
        say(f"all {len(records):,} sent; waiting for their verdicts")
        verdicts = _wait_for_verdicts(lane, expected, load.drain_timeout_s, workers)
    finally:
        workers.stop()
    return Outcome(verdicts, expected, registered, sender.began_ms)


class Workers:
    """A scorer worker of a lane, restartable; its logs kept in ``scratch`` as ``<name>-<n>.log``."""

    def __init__(self, lane: Lane, scratch: Path, extra_env: dict[str, str], name: str = "worker") -> None:
        self._lane, self._scratch, self._extra_env, self._name = lane, scratch, extra_env, name
        self._started = 0
        self.current: Child | None = None
        self.port = 0

    def start(self) -> None:
        """Start a new worker process."""
        self._started += 1
        self.port = free_port()
        env = child_env(
            self._lane.settings, self._scratch / "data", FRAUD_SCORER_WEB_PORT=str(self.port), **self._extra_env
        )
        self.current = Child(["fraudstream", "score"], env, self._scratch / f"{self._name}-{self._started}.log")

    def wait_scoring(self) -> None:
        """Wait until the current worker scored at least one transaction."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        child = self.current
        assert child is not None
        while _scored(self.port) < 1:
            if not child.alive() or time.monotonic() > deadline:
                raise ChaosError(f"scorer worker did not score\n--- end of its log ---\n{child.log_tail()}")
            time.sleep(0.2)

    def scored(self) -> float:
        """The current worker's count of scored transactions (0 while it does not answer)."""
        return _scored(self.port)

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
        """Whether the current worker runs."""
        return self.current is not None and self.current.alive()

    def stop(self) -> None:
        """Stop the current worker (SIGTERM)."""
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


class Sender(threading.Thread):
    """Sends the records at a fixed rate (record timestamp = send time) in a thread of its own; a send that
    fails (the broker away) is made again, behind the pace, until the broker acknowledges it."""

    def __init__(self, settings: Settings, topic: str, records: Sequence[Record], rate: float) -> None:
        super().__init__(name="chaos-sender", daemon=True)
        self._settings, self._topic, self._records, self._rate = settings, topic, records, rate
        self.sent = 0
        self.began_ms = 0
        self.resent = 0
        """Sends that failed (a broker away) and were made again: the sender loses no transaction."""
        self.renewed = 0
        """Producers replaced because the broker refused their state (see :class:`RenewingProducer`)."""
        self._refusals: list[tuple[AIOKafkaProducer, BaseException]] = []
        """Why sends failed, with the producer that failed them (replaced when the broker refused its state)."""
        self._refused: BaseException | None = None
        """An error no resend can get past (a record too large, no authorization): sending stops with it."""
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
        producers = RenewingProducer(self._new_producer)
        await producers.start()
        try:
            loop = asyncio.get_running_loop()
            began = loop.time()
            self.began_ms = int(time.time() * 1000)
            unacked: set[asyncio.Future[Any]] = set()
            failed: list[Record] = []
            for index, record in enumerate(self._records):
                wait = began + index / self._rate - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._deliver(producers, [*_taken(failed), record], unacked, failed)
                self.sent = index + 1
            while unacked or failed or self._refused is not None:
                await self._deliver(producers, _taken(failed), unacked, failed)
                if unacked:
                    await asyncio.wait(unacked, timeout=_RESEND_PAUSE_S)
        finally:
            self.renewed = producers.renewals
            await producers.stop()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_options(self._settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=_SEND_TIMEOUT_MS,
        )

    async def _deliver(
        self,
        producers: RenewingProducer[AIOKafkaProducer],
        records: list[Record],
        unacked: set[asyncio.Future[Any]],
        failed: list[Record],
    ) -> None:
        """Send ``records``; each one whose send or acknowledgement fails goes back to ``failed``. A producer
        whose state the broker refused is replaced first; an error no resend gets past stops the sending."""
        if self._refused is not None:
            raise self._refused
        for record in records:
            while self._refusals:
                refused, error = self._refusals.pop()
                with contextlib.suppress(KafkaError):  # the broker still away: at a later send
                    await producers.renew_after(refused, [error])
            producer = producers.current
            assert producer is not None
            try:
                delivery = await producer.send(self._topic, record.value, key=record.key)
            except KafkaError as error:  # the broker away long enough to fill the record batch, or its metadata
                self._failed(record, failed, producer, error)
                await asyncio.sleep(_RESEND_PAUSE_S)
                continue
            unacked.add(delivery)
            delivery.add_done_callback(partial(self._settled, record, producer, unacked, failed))

    def _settled(
        self,
        record: Record,
        producer: AIOKafkaProducer,
        unacked: set[asyncio.Future[Any]],
        failed: list[Record],
        delivery: asyncio.Future[Any],
    ) -> None:
        unacked.discard(delivery)
        if delivery.cancelled():  # its producer stopped (replaced): made again through the new one
            self.resent += 1
            failed.append(record)
        elif (error := delivery.exception()) is not None:
            self._failed(record, failed, producer, error)

    def _failed(self, record: Record, failed: list[Record], producer: AIOKafkaProducer, error: BaseException) -> None:
        if not _resendable(error):
            self._refused = self._refused or error
            return
        self.resent += 1
        failed.append(record)
        self._refusals.append((producer, error))


def _resendable(error: BaseException) -> bool:
    """Whether a failed send may succeed when made again: the broker away or busy (a timeout, a retriable
    error), or a producer state it refused (the producer is replaced)."""
    return isinstance(error, (KafkaTimeoutError, *REFUSED_PRODUCER_STATE)) or bool(getattr(error, "retriable", False))


def _taken(records: list[Record]) -> list[Record]:
    """The records of the list, emptied."""
    taken = records[:]
    records.clear()
    return taken


def _wait_for_verdicts(lane: Lane, expected: set[str], timeout_s: float, workers: Workers) -> list[VerdictSeen]:
    """Read the verdicts back until every expected transaction has one, or the deadline."""
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


def next_after(appended_ms: list[int], at_ms: int) -> float:
    """Seconds from ``at_ms`` to the first append after it (``nan`` when none)."""
    index = bisect_right(appended_ms, at_ms)
    return (appended_ms[index] - at_ms) / 1000 if index < len(appended_ms) else float("nan")
