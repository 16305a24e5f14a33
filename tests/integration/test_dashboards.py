"""Every Grafana panel's and annotation's query, evaluated by a real Prometheus scraping a loaded scorer,
trainer and producer."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraudcore.settings import Settings
from tests.integration.conftest import free_port
from tests.integration.prometheus_harness import Prometheus, all_finite, values
from tests.integration.scorer_harness import (
    Worker,
    http,
    produce,
    register,
    scorer_setup,
    train_bundle,
)
from tests.unit.deploy.dashboards import GRAFANA_VARIABLES, Query, annotation_queries, panel_queries

Samples = list[dict[str, Any]]
RETRAINED = r'^fraudstream_trainer_retrains_total\{[^}]*result="(promoted|kept)"[^}]*\} [1-9]'
PROMOTED = r'^fraudstream_trainer_retrains_total\{[^}]*result="promoted"[^}]*\} [1-9]'
STEP_S = float(GRAFANA_VARIABLES["$__interval"].removesuffix("s"))

# What a sensible answer of some panels is, beyond "non-empty, finite, not negative".
EXPECTATIONS: dict[str, Callable[[Samples], bool]] = {
    "Transactions scored per second": lambda s: any(v > 0 for v in values(s)),
    "Events produced per second": lambda s: {x["metric"]["kind"] for x in s} == {"transaction", "label"},
    "End-to-end latency (event produced to verdict acknowledged)": lambda s: all(0 < v < 120 for v in values(s)),
    "Scoring latency per micro-batch": lambda s: all(0 < v < 60 for v in values(s)),
    "Mean micro-batch size": lambda s: all(v >= 1 for v in values(s)),
    "Workers ready": lambda s: values(s) == [1.0],
    "Feature PSI against the model's reference": lambda s: len(s) == 15,
    "Score distribution (quantiles)": lambda s: all(0 <= v <= 1 for v in values(s)),
    "Mean score": lambda s: all(0 < v < 1 for v in values(s)),
    "Live fraud rate of arriving labels": lambda s: all(0 < v < 0.5 for v in values(s)),
    "Model version in use per worker": lambda s: {x["metric"]["alias"] for x in s} == {"champion"},
    "Retrains (last hour)": lambda s: sum(values(s)) >= 0.9,
    "Last retrain: metrics on the most recent test window": lambda s: len(s) >= 6 and all(v <= 1 for v in values(s)),
    "Dead letters in the time range by reason": lambda s: (
        round({x["metric"]["reason"]: v for x, v in zip(s, values(s), strict=True)}["invalid_json"]) == 3
    ),
    "Lag per partition": lambda s: len(s) == 3,
    "Partitions held per worker": lambda s: values(s) == [3.0],
    "Transactions in the training window": lambda s: all(v > 1000 for v in values(s)),
}


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "fraudstream", *args], env=env, stdout=output, stderr=subprocess.STDOUT
        )


def _scrape(port: int) -> str:
    status, body = http(f"http://127.0.0.1:{port}/metrics")
    return body.decode() if status == 200 else ""


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what} within {timeout_s} s\n{tails}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _settings(trainer_port: int, producer_port: int) -> dict[str, str]:
    """The metrics ports, and a trainer that retrains quickly and often."""
    return {
        "FRAUD_TRAINER_METRICS_PORT": str(trainer_port),
        "FRAUD_PRODUCER_METRICS_PORT": str(producer_port),
        "FRAUD_TRAINER_MODEL_KIND": "logistic",
        "FRAUD_TRAINER_TRAIN_DAYS": "7",
        "FRAUD_TRAINER_TEST_DAYS": "3",
        "FRAUD_TRAINER_FOLDS": "1",
        "FRAUD_TRAINER_RETRAIN_EVERY_LABELS": "5000",
    }


def test_every_dashboard_query_returns_sensible_data_from_a_loaded_pipeline(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    queries = list(panel_queries())
    assert len({q.dashboard for q in queries}) == 5
    marks = list(annotation_queries())
    assert len({q.dashboard for q in marks}) == 5
    assert set(EXPECTATIONS) <= {q.panel for q in queries}

    setup = scorer_setup(services, unique, tmp_path)
    register(setup, train_bundle(seed=1, warm_from_day=38))
    trainer_port, producer_port = free_port(), free_port()
    extra = _settings(trainer_port, producer_port)
    worker = Worker(setup, tmp_path / "worker.log", **extra)
    env = setup.env(worker.port, **extra)
    logs = [worker.log_path, tmp_path / "trainer.log", tmp_path / "producer.log"]
    prometheus = Prometheus(
        tmp_path / "prometheus",
        {
            "scorer": f"127.0.0.1:{worker.port}",
            "trainer": f"127.0.0.1:{trainer_port}",
            "producer": f"127.0.0.1:{producer_port}",
        },
    )
    trainer = producer = None
    try:
        prometheus.wait_ready()
        started = time.time()
        worker.wait_ready()
        # the dead letters below must rise from a scraped 0: increase() does not count a series' first value
        dead_letters = 'fraudstream_scorer_dead_letters_total{reason="invalid_json"}'
        _wait_for(lambda: bool(prometheus.query(dead_letters)), 30, "the scorer's counters are scraped", logs)
        trainer = _spawn(["train", "--log-level", "info"], env, logs[1])
        simulation = ["--seed", "5", "--customers", "300", "--terminals", "600", "--days", "150"]
        producer = _spawn(["produce", *simulation, "--rate", "500", "--quiet"], env, logs[2])
        invalid = setup.topics.transactions, b"bad", b"{not json"
        produce(setup.settings, [invalid, invalid, invalid])

        def loaded() -> bool:
            scorer, trainer_metrics = _scrape(worker.port), _scrape(trainer_port)
            retrained = re.search(RETRAINED, trainer_metrics, re.MULTILINE)
            return "fraudstream_scorer_feature_psi{" in scorer and retrained is not None

        _wait_for(loaded, 300, "the scorer filled its drift window and the trainer retrained", logs)
        _wait_for(lambda: set(prometheus.target_health().values()) == {"up"}, 30, "every target is up", logs)
        time.sleep(5)  # a few more scrapes under load
        assert producer.poll() is None, "the producer ran out of events before the queries"

        failures = [f"{q.dashboard} / {q.panel}: {q.expr} -> {r}" for q, r in _answers(prometheus, queries) if r]
        promoted = re.search(PROMOTED, _scrape(trainer_port), re.MULTILINE) is not None
        for mark in marks:
            problem = _annotation_problem(prometheus, mark, started, promoted)
            if problem:
                failures.append(f"{mark.dashboard} / annotation {mark.panel}: {mark.expr} -> {problem}")
        assert not failures, "\n".join(failures)
    finally:
        for process in (producer, trainer):
            if process is not None:
                _stop(process)
        worker.stop()
        prometheus.stop()


def _annotation_problem(prometheus: Prometheus, mark: Query, start: float, promoted: bool) -> str:
    """What is wrong with an annotation's points since ``start`` ('' when nothing): the worker's first model
    is a model swap, and a promotion by the trainer (when one happened) a promotion."""
    series = prometheus.query_range(mark.promql(), start, time.time(), STEP_S)
    points = sum(len(s["values"]) for s in series)
    if "fraudstream_scorer_model_info" in mark.expr:
        champion = [s for s in series if s["metric"].get("alias") == "champion"]
        return "" if champion and points <= 2 * len(series) else f"not one mark per version: {series}"
    if 'result="promoted"' in mark.expr and promoted:
        return "" if 1 <= points <= 2 else f"not one mark per promotion: {series}"
    return ""


def _answers(prometheus: Prometheus, queries: list[Query]) -> list[tuple[Query, str]]:
    """Each query with what is wrong with its answer ('' when nothing)."""
    answers = []
    for query in queries:
        samples = prometheus.query(query.promql())
        problem = ""
        if not samples:
            problem = "no data"
        elif not all_finite(samples) or any(v < 0 for v in values(samples)):
            problem = f"not finite or negative: {values(samples)}"
        elif query.panel in EXPECTATIONS and not EXPECTATIONS[query.panel](samples):
            problem = f"not sensible: {[(s['metric'], s['value'][1]) for s in samples]}"
        answers.append((query, problem))
    return answers
