"""``fraudstream up``/``status``/``down`` as a user runs them: real processes, real ports, clear errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudcore.local.stack import LocalStack
from fraudcore.settings import Settings
from tests.integration.conftest import local_settings

FRAUDSTREAM = [sys.executable, "-m", "fraudstream"]


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("FRAUD_") and key != "MLFLOW_TRACKING_URI"
    }
    env |= {
        "FRAUD_DATA_DIR": str(settings.data_dir),
        "FRAUD_KAFKA_PORT": str(settings.kafka_port),
        "FRAUD_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
        "FRAUD_REDIS_PORT": str(settings.redis_port),
    }
    return env | extra


def _run(settings: Settings, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FRAUDSTREAM, *args], env=_env(settings, **extra), capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[Settings]:
    """Settings for a stack of this test's own; whatever it left running is stopped afterwards."""
    settings = local_settings(tmp_path / "data")
    yield settings
    LocalStack(settings).down()


def _pids(settings: Settings) -> dict[str, int]:
    run_dir = settings.data_dir / "run"
    return {pid_file.stem: int(pid_file.read_text()) for pid_file in run_dir.glob("*.pid")} if run_dir.exists() else {}


def _ended(pid: int, timeout_s: float = 10.0) -> bool:
    """Whether ``pid`` is gone (or a zombie its new parent has not reaped yet) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def test_up_status_down_keeps_data_and_wipe_removes_it(private_stack: Settings) -> None:
    up = _run(private_stack, "up")
    assert up.returncode == 0, up.stderr
    for name in ("kafka", "redis", "mlflow"):
        assert f"{name}" in up.stdout
    assert up.stdout.count("healthy") == 3, up.stdout
    assert f"127.0.0.1:{private_stack.kafka_port}" in up.stdout
    pids = _pids(private_stack)
    assert set(pids) == {"kafka", "redis"}

    status = _run(private_stack, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("healthy") == 3

    down = _run(private_stack, "down")
    assert down.returncode == 0
    assert "stopped: kafka, redis" in down.stdout
    for pid in pids.values():
        assert _ended(pid), f"process {pid} still runs after down"
    assert (private_stack.data_dir / "kafka" / "data" / "meta.properties").exists()
    assert (private_stack.mlflow_dir / "mlflow.db").exists()

    after = _run(private_stack, "status")
    assert after.returncode == 1
    assert "DOWN" in after.stdout

    wiped = _run(private_stack, "down", "--wipe")
    assert wiped.returncode == 0
    assert "nothing was running" in wiped.stdout
    assert not (private_stack.data_dir / "kafka").exists()
    assert not private_stack.mlflow_dir.exists()


def test_up_refuses_a_port_in_use(private_stack: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", private_stack.kafka_port))
        squatter.listen()
        up = _run(private_stack, "up")
    assert up.returncode == 3
    assert f"127.0.0.1:{private_stack.kafka_port}" in up.stderr
    assert "FRAUD_KAFKA_PORT" in up.stderr
    assert _pids(private_stack) == {}


def test_a_broker_that_dies_at_start_shows_its_log(private_stack: Settings) -> None:
    meta = private_stack.data_dir / "kafka" / "data" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=7\ndirectory.id=AAAAAAAAAAAAAAAAAAAAAA\n")
    up = _run(private_stack, "up")
    assert up.returncode == 3
    assert "Kafka broker failed to start: the process exited" in up.stderr
    assert "Last lines of its log" in up.stderr
    assert "node" in up.stderr.lower()
    assert _pids(private_stack) == {}


def test_missing_java_is_explained(private_stack: Settings, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("mvn", "redis-server"):
        found = shutil.which(program)
        assert found is not None
        (bin_dir / program).symlink_to(found)
    up = _run(private_stack, "up", PATH=str(bin_dir))
    assert up.returncode == 3
    assert "'java' was not found" in up.stderr
    assert "make setup" in up.stderr


def test_external_kafka_is_used_and_not_started(services: Settings, private_stack: Settings) -> None:
    up = _run(private_stack, "up", FRAUD_KAFKA_BOOTSTRAP=services.bootstrap_servers)
    assert up.returncode == 0, up.stderr
    assert "external" in next(line for line in up.stdout.splitlines() if line.startswith("kafka"))
    assert set(_pids(private_stack)) == {"redis"}
