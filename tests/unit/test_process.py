"""Detached processes: pid files, stale pids, port checks, log tails."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from fraudcore.local.errors import MissingToolError, PortInUseError, StartupError
from fraudcore.local.kafka import new_cluster_id
from fraudcore.local.process import ManagedProcess, ensure_port_free, require_program, tail


def _process(tmp_path: Path, marker: str) -> ManagedProcess:
    return ManagedProcess(name="sleeper", run_dir=tmp_path / "run", log_file=tmp_path / "sleeper.log", marker=marker)


def test_start_track_and_stop_a_detached_process(tmp_path: Path) -> None:
    marker = f"sleeper-{tmp_path.name}"
    process = _process(tmp_path, marker)
    pid = process.start(
        [sys.executable, "-c", "import time, sys; print('hi', flush=True); time.sleep(60)", marker], tmp_path
    )
    assert process.pid() == pid
    process.wait_ready(lambda: "hi" in tail(process.log_file), 10, "sleeper")
    assert process.stop(timeout_s=5)
    assert process.pid() is None
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    assert not process.stop()


def test_a_pid_file_naming_a_stranger_is_stale(tmp_path: Path) -> None:
    process = _process(tmp_path, "a-marker-no-process-has")
    process.run_dir.mkdir(parents=True)
    process.pid_file.write_text("1\n")
    assert process.pid() is None
    assert not process.pid_file.exists()


def test_a_process_that_dies_reports_its_log_tail(tmp_path: Path) -> None:
    marker = f"dier-{tmp_path.name}"
    process = _process(tmp_path, marker)
    process.start([sys.executable, "-c", "import sys; print('fatal: it broke'); sys.exit(1)", marker], tmp_path)
    with pytest.raises(StartupError, match="fatal: it broke"):
        process.wait_ready(lambda: False, 10, "dier")


def test_a_port_in_use_is_named_with_the_setting_to_change() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}.*FRAUD_KAFKA_PORT"):
            ensure_port_free("Kafka", port, "FRAUD_KAFKA_PORT")


def test_missing_program_says_how_to_install_it() -> None:
    with pytest.raises(MissingToolError, match=r"no-such-program-here.*make setup"):
        require_program("no-such-program-here", "Install it with `make setup`.")


def test_tail_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert tail(tmp_path / "nothing.log") == ""
    log = tmp_path / "a.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"


def test_cluster_ids_are_22_url_safe_chars_not_starting_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
