"""``fraudstream bench sizing``: a long simulated history through the scorer's own code and a real
Redis, and what it costs (memory per card, terminal and transaction, flatness in event time, CPU per
transaction, the trainer's memory).

The history (the producer's simulator) is encoded as the producer sends it and fed in micro-batches
to the scorer's batch logic, as a worker does with what it consumes, without Kafka in between:
transactions triaged (decoded, clock moved, stale ones refused), recorded and counted by the feature
store with the clock passed, scored by a real model and encoded as verdicts (``score_chunks``); then
the labels that came out meanwhile decoded, checked against the event-time clock and recorded (as
``process_labels``). Labels go after their batch's transactions: on a small stream a batch spans days,
and labels judged by the clock before it would be refused as ahead of the stream. Kafka's share of a
worker's CPU comes from a shorter run of ``fraudstream score`` itself on the first transactions,
through Kafka (:mod:`bench.sizing_full_path`). The Redis is a private
``redis-server`` of the run (on a free port, snapshots off), so its memory and CPU are the store's
alone; the store is whatever :func:`~fraudcore.features.open_store.open_feature_store` opens, so a
new key layout is measured without changing this bench. Definitions: :mod:`bench.sizing_report`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis

from bench.errors import BenchError
from bench.lanes import new_run_id
from bench.models import delete_models, real_bundle
from bench.processes import free_port
from bench.results import Machine
from bench.sizing_config import SizingConfig
from bench.sizing_full_path import measure_full_path
from bench.sizing_history import HISTORY_START, SimulatedHistory, id_kind
from bench.sizing_redis import KeyFamily, census, counters
from bench.sizing_report import DaySample, SizingReport, StreamTotals, Windows
from bench.sizing_trainer import TrainerRun, delete_topics, fill_and_train
from fraudcore.features.definition import DEFAULT_SPEC, LabelFacts, TxFacts
from fraudcore.features.memory import offline_features
from fraudcore.features.open_store import open_feature_store, open_redis
from fraudcore.local.redis_server import RedisServer
from fraudcore.models import CHAMPION, LoadedModel, validate_bundle
from fraudcore.settings import Settings
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.codec import Decoded, decode_batch
from schemas.events import Label, Transaction
from scorer.decisions import Thresholds
from scorer.model_holder import ModelHolder
from scorer.process_tuning import tune_process
from scorer.scoring import BatchScorer, utc_now
from trainer.training import TrainingConfig

__all__ = ["run_sizing"]

_MODEL_TRANSACTIONS = 20_000
"""Transactions of the separate simulation the scorer's model is fitted on."""
_MODEL_DAYS = 21
_PROGRESS_EVERY_S = 15.0


def run_sizing(config: SizingConfig, settings: Settings, say: Callable[[str], None] = print) -> SizingReport:
    """Stream ``config``'s history through the scorer into a private Redis, measure, and (with
    ``config.trainer``) run the trainer on the same history through the settings' Kafka and MLflow."""
    load_before, started_at, run_id = os.getloadavg(), datetime.now(UTC), new_run_id()
    scratch = Path(tempfile.mkdtemp(prefix=f"fraudstream-{run_id}-"))
    failed = True
    try:
        history = SimulatedHistory(config)
        with _private_redis(settings, scratch) as redis_settings:
            say(f"[sizing] run {run_id}: fitting the scorer's {config.model_kind.value} model")
            model = _model(config)
            tune_process(settings.scorer_model_threads)
            say(f"[sizing] streaming {config.days} simulated days of {config.customers:,} cards through the scorer")
            report = asyncio.run(_stream(config, settings, redis_settings, history, model, say))
        trainer = _trainer(config, settings, run_id, history, report.windows, scratch, say) if config.trainer else []
        full_path = None
        if config.full_path:
            records = [record for is_label, record in history.records if not is_label][: config.full_path]
            full_path = measure_full_path(settings, run_id, records, model.bundle, config.batch_size, scratch, say)
            say(f"      {full_path.cpu_us_per_tx:,.1f} µs of worker CPU per transaction over {full_path.timed:,}")
        failed = False
    finally:
        if failed:
            say(f"[sizing] logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return SizingReport(
        command=config.command(),
        run_id=run_id,
        started_at=started_at,
        config=config,
        machine=Machine.observe(load_before),
        redis_version=report.redis_version,
        windows=report.windows,
        days=report.days,
        totals=report.totals,
        active_cards=report.active_cards,
        active_terminals=report.active_terminals,
        transactions_in_window=report.transactions_in_window,
        families=report.families,
        families_half=report.families_half,
        trainer=trainer,
        full_path=full_path,
    )


@contextmanager
def _private_redis(settings: Settings, scratch: Path) -> Iterator[Settings]:
    """A ``redis-server`` of this run on a free port, snapshots off; its settings."""
    private = settings.derived(
        data_dir=scratch, redis_url=None, redis_cluster=False, redis_port=free_port(), redis_namespace="sizing"
    )
    server = RedisServer(private)
    server.start()
    try:
        yield private
    finally:
        server.stop()


class _FixedSource:
    """The model source of a holder whose one model is installed by hand."""

    model_name = "sizing"

    def resolve(self, alias: str) -> str | None:
        return "1"

    def load(self, version: str) -> LoadedModel:
        raise BenchError("the sizing model is installed, never loaded")


def _model(config: SizingConfig) -> LoadedModel:
    """The trainer's estimator fitted on a separate simulation of the same population."""
    params = SimulationParams(
        seed=config.seed + 1,
        n_customers=config.customers,
        n_terminals=config.terminals,
        start=HISTORY_START,
        days=_MODEL_DAYS,
        mean_tx_per_day=config.tx_per_card_day,
    )
    transactions: list[Transaction] = []
    labels: list[Label] = []
    for event in SimulatedStream(params, LabelPolicy()).events(max_transactions=_MODEL_TRANSACTIONS):
        (transactions if isinstance(event, Transaction) else labels).append(event)  # type: ignore[arg-type]
    matrix = offline_features([TxFacts.of(t) for t in transactions], [LabelFacts.of(label) for label in labels])
    is_fraud = np.array([t.fraud_scenario != 0 for t in transactions], dtype=np.bool_)
    if is_fraud.all() or not is_fraud.any():
        raise BenchError("the model's simulation has a single class: give more --customers or --days")
    bundle = real_bundle(matrix, is_fraud, config.model_kind, config.seed)
    validation = validate_bundle(bundle, DEFAULT_SPEC.feature_names, expected_spec_digest=DEFAULT_SPEC.digest)
    return LoadedModel("sizing", "1", bundle, "sizing", datetime.now(UTC), validation)


@dataclass(frozen=True)
class _Streamed:
    """What streaming the history measured."""

    redis_version: str
    windows: Windows
    days: list[DaySample]
    totals: StreamTotals
    active_cards: int
    active_terminals: int
    transactions_in_window: int
    families: list[KeyFamily]
    families_half: list[KeyFamily]


async def _stream(
    config: SizingConfig,
    settings: Settings,
    redis_settings: Settings,
    history: SimulatedHistory,
    model: LoadedModel,
    say: Callable[[str], None],
) -> _Streamed:
    client = open_redis(redis_settings, timeout_s=30)
    assert isinstance(client, aioredis.Redis), "the run's private Redis is standalone"
    store = open_feature_store(redis_settings, DEFAULT_SPEC, redis_settings.redis_namespace, timeout_s=30)
    holder = ModelHolder(_FixedSource())
    holder.install(CHAMPION, model)
    scorer = BatchScorer(store, holder, Thresholds.from_settings(settings), reason_count=settings.reason_count)
    namespace, half = redis_settings.redis_namespace, config.days // 2
    try:
        await client.config_set("save", "")
        redis_version = str((await client.info("server"))["redis_version"])
        before = await counters(client)
        days: list[DaySample] = []
        families_half: list[KeyFamily] = []
        scorer_cpu = census_cpu = 0.0
        verdicts = dead_letters = conflicts = refused = transactions = 0
        began = progress_at = time.perf_counter()
        for batch in history.batches():
            cpu = time.process_time()
            triage = scorer.triage(batch.transactions)
            dead_letters += len(triage.dead_letters)
            async for chunk in scorer.score_chunks(triage.transactions, settings.scorer_chunk_size):
                verdicts += len(chunk.verdicts)
                conflicts += len(chunk.conflicts)
            if batch.labels:
                refused += await _record_labels(scorer, batch.labels)
            scorer_cpu += time.process_time() - cpu
            transactions += len(batch.transactions)
            if not batch.last_of_day:
                continue
            now = await counters(client)
            days.append(DaySample(batch.day, transactions, now.used_memory - before.used_memory, now.keys))
            if batch.day == half - 1:
                families_half = await census(client, namespace, id_kind, sample=config.sample_keys, seed=config.seed)
                census_cpu += (await counters(client)).cpu_seconds - now.cpu_seconds
            if time.perf_counter() - progress_at > _PROGRESS_EVERY_S:
                progress_at = time.perf_counter()
                memory = _mb(days[-1].store_bytes)
                say(f"      day {batch.day + 1}/{config.days}: {transactions:,} transactions, {memory}")
        wall = time.perf_counter() - began
        end = await counters(client)
        say(f"      {transactions:,} transactions in {wall:.0f} s; census of the store's keys")
        families = await census(client, namespace, id_kind, sample=config.sample_keys, seed=config.seed)
    finally:
        await store.close()
        await client.aclose()
    if len(days) != config.days:
        raise BenchError(f"the history covered {len(days)} of {config.days} days: give more --customers")
    spec, n, training = DEFAULT_SPEC, config.days, TrainingConfig.from_settings(settings)
    windows = Windows(
        card_days=max(spec.customer_windows_days),
        terminal_days=spec.label_delay_days + max(spec.terminal_windows_days),
        trainer_horizon_days=training.horizon_days,
        trainer_fits_from_day=training.train_days + training.test_days * training.folds + 2 * spec.label_delay_days + 1,
    )
    return _Streamed(
        redis_version=redis_version,
        windows=windows,
        days=days,
        totals=StreamTotals(
            transactions=transactions,
            labels=history.labels_streamed,
            verdicts=verdicts,
            dead_letters=dead_letters,
            conflicts=conflicts,
            refused_labels=refused,
            scorer_cpu_s=scorer_cpu,
            redis_cpu_s=end.cpu_seconds - before.cpu_seconds - census_cpu,
            wall_s=wall,
        ),
        active_cards=history.active(history.card_last_day, n - windows.card_days),
        active_terminals=history.active(history.terminal_last_day, n - windows.terminal_days),
        transactions_in_window=history.transactions_since(n - windows.longest_days),
        families=families,
        families_half=families_half,
    )


async def _record_labels(scorer: BatchScorer, values: list[bytes]) -> int:
    """Record a batch of encoded labels as a worker does (``process_labels``); how many were refused
    (invalid, ahead of the stream, or refused by the store)."""
    decoded = decode_batch(values, Label, now=utc_now())
    facts = [LabelFacts.of(result.event) for result in decoded.results if isinstance(result, Decoded)]
    kept = [fact for fact, ahead in zip(facts, scorer.labels_ahead(facts), strict=True) if ahead is None]
    outcomes = await scorer.store.record_labels(kept, clock_ms=scorer.event_clock.now_ms) if kept else []
    return len(values) - len(kept) + sum(1 for outcome in outcomes if outcome.refused)


def _trainer(
    config: SizingConfig,
    settings: Settings,
    run_id: str,
    history: SimulatedHistory,
    windows: Windows,
    scratch: Path,
    say: Callable[[str], None],
) -> list[TrainerRun]:
    """The trainer's peak memory after day N/2 and day N (topics and models of the run removed after)."""
    lane = settings.derived(
        topic_prefix=f"{settings.topic_prefix}{run_id}.sizing.",
        model_name=f"{settings.model_name}-{run_id}-sizing",
        mlflow_experiment=f"{settings.mlflow_experiment}-bench",
    )
    n, horizon = config.days, windows.trainer_horizon_days
    first = max(n // 2, windows.trainer_fits_from_day) if windows.trainer_fits_from_day < n else n // 2
    cuts = [
        (day, history.cut_at_day[day - 1], sum(history.transactions_per_day[max(day - horizon, 0) : day]))
        for day in (first, n)
    ]
    say(f"[sizing] trainer: fraudstream train --once after day {first} and day {n} (topics {lane.topic_prefix}*)")
    try:
        runs = fill_and_train(lane, history.records, cuts, scratch)
    finally:
        asyncio.run(delete_topics(lane))
        delete_models(lane, [lane.model_name])
    for run in runs:
        say(f"      day {run.day}: peak RSS {_mb(run.peak_rss_bytes)} for {run.transactions_read:,} transactions held")
    return runs


def _mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"
