"""The model lifecycle end to end: retrain from the topics, gate, broadcast, scorers swap, rollback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from fraudcore.mlflow_store import connect
from fraudcore.models import CHALLENGER, CHAMPION, PREVIOUS, list_versions, resolve_alias
from fraudcore.settings import Settings
from fraudstream.cli import main
from producer.simulator import SimulationParams
from schemas.codec import encode
from schemas.enums import ModelEventKind
from schemas.events import Label, ModelEvent, Transaction
from schemas.topics import Topics, key_for
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import (
    ScorerSetup,
    Worker,
    http,
    payloads,
    produce,
    read_topic,
    register,
    scorer_setup,
    simulated,
    train_bundle,
    wait_for_records,
)
from trainer.fitting import fit_bundle
from trainer.metrics import TrainerMetrics
from trainer.model_events import KafkaModelEvents
from trainer.service import Trainer
from trainer.training import TrainingConfig

PARAMS = SimulationParams(seed=21, n_customers=600, n_terminals=1200, days=60)
HISTORY_DAYS = 48


def _use(monkeypatch: pytest.MonkeyPatch, setup: ScorerSetup) -> None:
    for name, value in setup.env(free_port()).items():
        if name.startswith("FRAUD_") or name == "MLFLOW_TRACKING_URI":
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("FRAUD_TRAINER_TRAIN_DAYS", "10")
    monkeypatch.setenv("FRAUD_TRAINER_TEST_DAYS", "5")


def _weak_champion(setup: ScorerSetup) -> str:
    """A champion that barely learned (shuffled labels): any honest retrain beats it."""
    bundle = train_bundle(seed=1)
    rng = np.random.default_rng(0)
    matrix = np.asarray(bundle.reference)
    labels = rng.random(len(matrix)) < 0.5
    return register(setup, fit_bundle(matrix, labels, seed=3))


def _wait_scored_or_stale(setup: ScorerSetup, count: int, worker: Worker) -> list[Any]:
    """The verdicts once every one of ``count`` transactions has one or was dead-lettered as stale.

    The history is read from the beginning over several partitions, so one partition may run more
    than the claim horizon ahead of another in event time, and the worker dead-letters the lagging
    transactions as ``stale_event_time`` (a known limit of catching up a long backlog); nothing else
    may be missing."""
    deadline = time.monotonic() + 180
    while True:
        verdicts = read_topic(setup.settings, setup.topics.verdicts)
        reasons = [
            json.loads(record.value)["reason_code"] for record in read_topic(setup.settings, setup.topics.dead_letters)
        ]
        stale = sum(1 for reason in reasons if reason == "stale_event_time")
        if len(verdicts) + stale >= count or time.monotonic() > deadline:
            assert len(verdicts) + stale == count, (len(verdicts), stale, count, worker.log()[-2000:])
            return verdicts
        time.sleep(0.5)


def test_labels_cause_a_retrain_the_gate_promotes_the_scorers_swap_and_rollback_returns(
    services: Settings, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    _use(monkeypatch, setup)
    transactions, labels = simulated(PARAMS)
    cut = PARAMS.start + timedelta(days=HISTORY_DAYS)
    produce(setup.settings, [*transactions_before(transactions, cut), *labels_before(labels, cut)])
    weak = _weak_champion(setup)
    worker = Worker(setup, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        first_batch = [t for t in transactions if cut <= t.event_time < cut + timedelta(days=2)]
        produce(setup.settings, first_batch)
        before = _wait_scored_or_stale(setup, len(transactions_before(transactions, cut)) + len(first_batch), worker)

        assert main(["train", "--once", "--kind", "boosting"]) == 0
        out = capsys.readouterr().out
        assert "promoted version" in out, out
        client = connect(setup.settings)
        promoted = resolve_alias(client, setup.settings.model_name, CHAMPION)
        assert promoted is not None
        assert promoted != weak
        assert resolve_alias(client, setup.settings.model_name, PREVIOUS) == weak
        (info,) = [v for v in list_versions(client, setup.settings.model_name) if v.version == promoted]
        assert info.metrics["challenger_average_precision"] > info.metrics["baseline_average_precision"]
        assert {"challenger_auc_roc", "champion_average_precision", "mean_card_precision_at_100"} <= set(info.metrics)

        _wait_model(worker, promoted)
        later = [t for t in transactions if cut + timedelta(days=2) <= t.event_time < cut + timedelta(days=4)]
        produce(setup.settings, later)
        after = wait_for_records(setup.settings, setup.topics.verdicts, len(before) + len(later), 180, worker)
        versions = {v["transaction_id"]: v["model_version"] for v in payloads(after)}
        assert {versions[t.transaction_id] for t in first_batch} == {weak}
        assert {versions[t.transaction_id] for t in later} == {promoted}

        assert main(["train", "--once", "--kind", "logistic", "--margin", "0.99"]) == 0
        assert "registered version" in capsys.readouterr().out
        assert resolve_alias(client, setup.settings.model_name, CHAMPION) == promoted  # the gate said no
        assert resolve_alias(client, setup.settings.model_name, CHALLENGER) not in (None, promoted)

        assert main(["model", "rollback"]) == 0
        assert resolve_alias(client, setup.settings.model_name, CHAMPION) == weak
        _wait_model(worker, weak)
        last = [t for t in transactions if cut + timedelta(days=4) <= t.event_time < cut + timedelta(days=5)]
        produce(setup.settings, last)
        final = wait_for_records(setup.settings, setup.topics.verdicts, len(after) + len(last), 180, worker)
        versions = {v["transaction_id"]: v["model_version"] for v in payloads(final)}
        assert {versions[t.transaction_id] for t in last} == {weak}

        assert main(["model", "list"]) == 0
        listing = capsys.readouterr().out
        assert f"{promoted}" in listing
        assert "champion" in listing
    finally:
        assert worker.stop() == 0, worker.log()

    kinds = [json.loads(r.value)["kind"] for r in read_topic(setup.settings, setup.topics.model_events)]
    assert kinds.count("promoted") == 1
    assert kinds.count("rolled_back") == 1


def _wait_model(worker: Worker, version: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = http(worker.url("/model"))
        if status == 200 and json.loads(body)["champion"]["version"] == version:
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker did not swap to version {version}:\n{worker.log()}")


def transactions_before(transactions: list[Transaction], cut: object) -> list[Transaction]:
    return [t for t in transactions if t.event_time < cut]  # type: ignore[operator]


def labels_before(labels: list[Label], cut: object) -> list[Label]:
    return [label for label in labels if label.labeled_at < cut]  # type: ignore[operator]


def test_train_once_without_enough_history_says_so(
    services: Settings, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    _use(monkeypatch, setup)
    transactions, labels = simulated(SimulationParams(seed=2, n_customers=100, n_terminals=200, days=10))
    produce(setup.settings, [*transactions, *labels])
    assert main(["train", "--once"]) == 1
    assert "not retraining yet" in capsys.readouterr().err
    assert list_versions(connect(setup.settings), setup.settings.model_name) == []


DRIFT_PARAMS = SimulationParams(seed=5, n_customers=300, n_terminals=600, days=30)


def test_a_drift_alarm_retrains_once_per_cool_down(
    services: Settings, unique: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trainer.drift_trigger")
    setup = scorer_setup(services, unique, tmp_path)
    settings = Settings.model_validate(
        setup.settings.model_dump()
        | {
            "trainer_model_kind": "logistic",
            "trainer_train_days": 5,
            "trainer_test_days": 3,
            "trainer_folds": 1,
            "trainer_retrain_on_drift": True,
            "trainer_drift_cooldown_s": 3600,
        }
    )
    transactions, labels = simulated(DRIFT_PARAMS)
    produce(settings, [*transactions, *labels])
    metrics = asyncio.run(_drift_scenario(settings, setup.topics))
    features = {"signal": "features"}
    assert metrics.registry.get_sample_value("fraudstream_trainer_drift_alarms_total", features) == 2
    assert "within the cool-down of 3600 s" in caplog.text


async def _drift_scenario(settings: Settings, topics: Topics) -> TrainerMetrics:
    """Follow the topics; after the catch-up retrain, two drift alarms in a row: one retrain."""
    metrics = TrainerMetrics()
    config = TrainingConfig.from_settings(settings)
    trainer = Trainer(settings, topics, lambda: connect(settings), config, metrics=metrics)
    source = KafkaModelEvents(settings, topics.model_events)
    stop = asyncio.Event()
    running = asyncio.create_task(trainer.run(stop, lambda report: None, source))
    try:
        await _until(lambda: _retrains(metrics, "catch_up") == 1 and source.ready.is_set(), running, 240)
        assert len(list_versions(connect(settings), settings.model_name)) == 1

        await _publish(settings, topics, _drift_alarm(settings, "feature PSI above 0.25 against version 1: amount 0.7"))
        await _until(lambda: _retrains(metrics, "drift") == 1, running, 240)
        assert len(list_versions(connect(settings), settings.model_name)) == 2

        await _publish(settings, topics, _drift_alarm(settings, "feature PSI above 0.25 against version 1: amount 0.8"))
        alarms = {"signal": "features"}
        await _until(
            lambda: metrics.registry.get_sample_value("fraudstream_trainer_drift_alarms_total", alarms) == 2,
            running,
            60,
        )
        await asyncio.sleep(2.0)  # several turns of the trainer's loop: no retrain is started
        assert _retrains(metrics, "drift") == 1
        assert trainer.next_trigger() is None
        assert len(list_versions(connect(settings), settings.model_name)) == 2
    finally:
        stop.set()
        await running
    return metrics


def _retrains(metrics: TrainerMetrics, trigger: str) -> float:
    """Retrains of ``trigger`` that registered a version."""
    return sum(
        metrics.registry.get_sample_value("fraudstream_trainer_retrains_total", {"trigger": trigger, "result": r})
        or 0.0
        for r in ("promoted", "kept")
    )


async def _until(condition: Callable[[], bool], running: asyncio.Task[None], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if running.done():
            running.result()  # raises what stopped the trainer
            raise AssertionError("the trainer stopped")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s")
        await asyncio.sleep(0.2)


def _drift_alarm(settings: Settings, message: str) -> ModelEvent:
    return ModelEvent(
        kind=ModelEventKind.DRIFT_ALARM,
        model_name=settings.model_name,
        model_version="1",
        metrics={},
        message=message,
        at=datetime.now(UTC),
    )


async def _publish(settings: Settings, topics: Topics, event: ModelEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.model_events, encode(event), key=key_for(event))
    finally:
        await producer.stop()
