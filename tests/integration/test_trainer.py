"""The model lifecycle end to end: retrain from the topics, gate, broadcast, scorers swap, rollback."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from fraudcore.mlflow_store import connect
from fraudcore.models import CHALLENGER, CHAMPION, PREVIOUS, list_versions, resolve_alias
from fraudcore.settings import Settings
from fraudstream.cli import main
from producer.simulator import SimulationParams
from schemas.events import Label, Transaction
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
        before = wait_for_records(
            setup.settings,
            setup.topics.verdicts,
            len(transactions_before(transactions, cut)) + len(first_batch),
            180,
            worker,
        )

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
