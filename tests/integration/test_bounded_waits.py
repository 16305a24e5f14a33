"""A command that needs a service it cannot reach stops within ``FRAUD_SERVICE_WAIT_S`` with a message
naming the service and the variable, never a traceback; ``produce`` cut off by a broker that dies says
what was acknowledged. Every test runs the real command against real services (or a real socket that
accepts connections and never answers: a hung server)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudcore import mlflow_store
from fraudcore.local.kafka import KafkaBroker
from fraudcore.settings import Settings
from tests.integration.conftest import free_port, local_settings

FRAUDSTREAM = [sys.executable, "-m", "fraudstream"]
WAIT_S = 3
"""The bound the tests set: short, so that each test stays well under a minute."""
SLACK_S = 40
"""What a command may take beyond the bound on a busy machine (interpreter start, imports)."""


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("FRAUD_") and key != "MLFLOW_TRACKING_URI"
    }
    env |= {
        "FRAUD_DATA_DIR": str(settings.data_dir),
        "FRAUD_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "FRAUD_REDIS_URL": settings.redis_connection_url,
        "FRAUD_SERVICE_WAIT_S": str(WAIT_S),
    }
    return env | extra


def _run(settings: Settings, *args: str, **extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*FRAUDSTREAM, *args], env=_env(settings, **extra), capture_output=True, text=True, timeout=120, check=False
    )
    return done, time.monotonic() - started


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener accepts connections and never reads or answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def _assert_stopped_in_bound(done: subprocess.CompletedProcess[str], elapsed_s: float, *names: str) -> None:
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    for name in names:
        assert name in done.stderr, done.stderr
    assert elapsed_s < WAIT_S + SLACK_S, f"took {elapsed_s:.1f} s"


def test_model_list_with_mlflow_at_a_closed_port_stops_with_the_variable(services: Settings) -> None:
    done, elapsed = _run(services, "model", "list", MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}")
    _assert_stopped_in_bound(done, elapsed, "MLflow", "MLFLOW_TRACKING_URI", "connection refused")


def test_model_list_and_backtest_with_a_hung_mlflow_stop_within_the_bound(services: Settings, silent_port: int) -> None:
    uri = f"http://127.0.0.1:{silent_port}"
    done, elapsed = _run(services, "model", "list", MLFLOW_TRACKING_URI=uri)
    _assert_stopped_in_bound(done, elapsed, "MLflow", "MLFLOW_TRACKING_URI", f"{WAIT_S} s")
    done, elapsed = _run(services, "backtest", "--from", "2018-04-01", "--to", "2018-04-02", MLFLOW_TRACKING_URI=uri)
    _assert_stopped_in_bound(done, elapsed, "MLflow", "MLFLOW_TRACKING_URI")


def test_produce_and_train_with_a_hung_kafka_stop_within_the_bound(services: Settings, silent_port: int) -> None:
    hung = f"127.0.0.1:{silent_port}"
    done, elapsed = _run(services, "produce", "--count", "10", FRAUD_KAFKA_BOOTSTRAP=hung)
    _assert_stopped_in_bound(done, elapsed, "Kafka", "FRAUD_KAFKA_BOOTSTRAP", hung)
    done, elapsed = _run(services, "train", "--once", FRAUD_KAFKA_BOOTSTRAP=hung)
    _assert_stopped_in_bound(done, elapsed, "Kafka", "FRAUD_KAFKA_BOOTSTRAP")


def test_backtest_with_a_hung_redis_stops_within_the_bound(services: Settings, silent_port: int) -> None:
    done, elapsed = _run(
        services,
        "backtest",
        "--from",
        "2018-04-01",
        "--to",
        "2018-04-02",
        "--store",
        "redis",
        FRAUD_REDIS_URL=f"redis://127.0.0.1:{silent_port}/0",
    )
    _assert_stopped_in_bound(done, elapsed, "Redis", "FRAUD_REDIS_URL")


def test_a_missing_sqlite_store_is_reported_and_not_created(services: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "mistyped" / "mlflow.db"
    uri = f"sqlite:///{missing}"
    done, _ = _run(services, "status", MLFLOW_TRACKING_URI=uri)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^mlflow\s+DOWN .*does not exist.*MLFLOW_TRACKING_URI", done.stdout, re.MULTILINE), done.stdout
    done, _ = _run(services, "model", "list", MLFLOW_TRACKING_URI=uri)
    assert done.returncode == 3, done.stderr
    assert "MLFLOW_TRACKING_URI" in done.stderr
    assert "Traceback" not in done.stderr
    assert not missing.parent.exists()


def test_an_empty_store_is_reported_by_status(services: Settings, tmp_path: Path) -> None:
    empty = services.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'empty.db'}"})
    mlflow_store.ensure_experiment(empty, mlflow_store.connect(empty))  # a store that exists and holds no model
    done, _ = _run(services, "status", MLFLOW_TRACKING_URI=empty.tracking_uri)
    line = next(line for line in done.stdout.splitlines() if line.startswith("mlflow"))
    assert "WARNING: no model 'fraud' registered" in line, done.stdout


def _metric(url: str, name: str) -> float:
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_produce_cut_off_by_a_dying_broker_reports_what_was_acknowledged(tmp_path: Path) -> None:
    settings = local_settings(tmp_path / "data")
    broker = KafkaBroker(settings)
    broker.start()
    port = free_port()
    try:
        producing = subprocess.Popen(
            [*FRAUDSTREAM, "produce", "--rate", "300", "--count", "1000000", "--quiet", "--metrics-port", str(port)],
            env=_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 45
        acknowledged = 'fraudstream_producer_events_total{kind="transaction",outcome="acknowledged"}'
        while _metric(f"http://127.0.0.1:{port}/metrics", acknowledged) < 100 and time.monotonic() < deadline:
            assert producing.poll() is None, producing.communicate()
            time.sleep(0.5)
    finally:
        broker.stop()
    stopped = time.monotonic()
    out, err = producing.communicate(timeout=WAIT_S + SLACK_S)
    assert producing.returncode == 3, err
    assert time.monotonic() - stopped < WAIT_S + SLACK_S
    assert "Traceback" not in err
    counted = re.search(r"stopped acknowledging.*Acknowledged: ([\d,]+) transactions", err)
    assert counted, err
    assert int(counted.group(1).replace(",", "")) >= 100, err
    assert f"({counted.group(1)} acknowledged)" in out, out
    assert len(err.splitlines()) < 40, f"{len(err.splitlines())} lines of warnings: {err[:2000]}"
