"""``fraudstream train`` serves its Prometheus metrics: scraped over HTTP after its first retrain."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from fraudcore.settings import Settings
from producer.simulator import SimulationParams
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import http, produce, scorer_setup, simulated

PARAMS = SimulationParams(seed=21, n_customers=300, n_terminals=600, days=34)
"""Its first model is promoted: the training window, which ends a few days before the stream clock
(about 2,000 transactions of this small stream behind the newest), lies past the features' 30-day warm-up."""


def _samples(body: str) -> dict[str, float]:
    """``name{labels}`` -> value of every sample in an exposition."""
    pairs = (line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#"))
    return {series: float(value) for series, value in pairs}


def test_the_trainer_exports_its_retrain_and_the_models_metrics(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    transactions, labels = simulated(PARAMS)
    produce(setup.settings, [*transactions, *labels])
    port = free_port()
    env = setup.env(
        free_port(),
        FRAUD_TRAINER_METRICS_PORT=str(port),
        FRAUD_TRAINER_MODEL_KIND="logistic",
        FRAUD_TRAINER_TRAIN_DAYS="5",
        FRAUD_TRAINER_TEST_DAYS="3",
        FRAUD_TRAINER_FOLDS="1",
    )
    log_path = tmp_path / "trainer.log"
    with log_path.open("w") as log:
        trainer = subprocess.Popen(
            [sys.executable, "-m", "fraudstream", "train"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            samples = _scrape_until_retrained(f"http://127.0.0.1:{port}/metrics", trainer, log_path)
        finally:
            trainer.send_signal(signal.SIGTERM)
            code = trainer.wait(60)
    assert code == 0, log_path.read_text()

    assert samples['fraudstream_trainer_retrains_total{result="promoted",trigger="catch_up"}'] == 1
    assert samples["fraudstream_trainer_retrain_seconds_count"] == 1
    assert samples['fraudstream_trainer_events_total{kind="transaction",outcome="accepted"}'] == len(transactions)
    assert samples['fraudstream_trainer_events_total{kind="label",outcome="accepted"}'] == len(labels)
    assert samples['fraudstream_trainer_events_total{kind="label",outcome="invalid"}'] == 0
    assert 0 < samples["fraudstream_trainer_history_transactions"] <= len(transactions)
    assert abs(samples["fraudstream_trainer_last_retrain_timestamp_seconds"] - time.time()) < 600
    for role in ("challenger", "baseline"):
        for metric in ("auc_roc", "average_precision", "card_precision_at_100"):
            assert f'fraudstream_trainer_model_metric{{metric="{metric}",role="{role}"}}' in samples
    assert not any('role="champion"' in series for series in samples)  # the first model had none to beat
    challenger_ap = samples['fraudstream_trainer_model_metric{metric="average_precision",role="challenger"}']
    assert challenger_ap > samples['fraudstream_trainer_model_metric{metric="average_precision",role="baseline"}']
    (champion,) = [series for series in samples if series.startswith("fraudstream_trainer_champion_info{")]
    assert champion == f'fraudstream_trainer_champion_info{{model="{setup.settings.model_name}",version="1"}}'


def _scrape_until_retrained(url: str, trainer: subprocess.Popen[bytes], log_path: Path) -> dict[str, float]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if trainer.poll() is not None:
            raise AssertionError(f"the trainer exited with {trainer.returncode}:\n{log_path.read_text()}")
        status, body = http(url)
        if status == 200:
            samples = _samples(body.decode())
            if samples.get("fraudstream_trainer_retrain_seconds_count", 0) >= 1:
                return samples
        time.sleep(0.5)
    raise AssertionError(f"no retrain within 240 s:\n{log_path.read_text()}")
