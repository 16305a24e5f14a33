"""The processes a benchmark runs: each variant as a real subprocess with its log, and its memory
sampled from ``/proc``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fraudcore.settings import ENV_PREFIX, Settings, child_environment

__all__ = ["Child", "MemorySample", "MemorySampler", "child_env", "free_port"]


def child_env(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child configured by ``settings`` alone (no inherited ``FRAUD_*``); its
    data folder (Faust's state) is ``data_dir``, the services are named explicitly. It gets the public
    keys that verify model versions, never the private signing key (children only load models)."""
    from fraudcore.models.keys import verification_keys

    env = {key: value for key, value in os.environ.items() if not key.startswith("FRAUD_")}
    env |= child_environment(
        settings,
        data_dir=data_dir,
        kafka_bootstrap=settings.bootstrap_servers,
        redis_url=settings.redis_connection_url,
    )
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    env.pop(f"{ENV_PREFIX}MODEL_SIGNING_KEY", None)
    env[f"{ENV_PREFIX}MODEL_VERIFY_KEYS"] = verification_keys(settings).pem()
    return env | extra


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Child:
    """``python -m <module> <args>`` with its output in a log file."""

    def __init__(self, module_args: list[str], env: dict[str, str], log_path: Path, *, stdin: bool = False) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own modules, with the running interpreter
            [sys.executable, "-m", *module_args],
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def tell(self, line: str) -> None:
        """Write a line to the child's standard input."""
        assert self.process.stdin is not None, "started without stdin"
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdin is not None:
            self.process.stdin.close()
        self._log.close()
        return self.process.returncode

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the child's output."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]


@dataclass(frozen=True, slots=True)
class MemorySample:
    """A process's memory at one moment (``/proc/<pid>/status``)."""

    at: float
    """``time.monotonic()`` of the sample."""
    rss_kb: int
    """``VmRSS``: resident memory now."""
    hwm_kb: int
    """``VmHWM``: the largest resident memory so far."""


def read_memory(pid: int) -> MemorySample | None:
    """The process's ``VmRSS`` and ``VmHWM`` now, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    if len(values) < 2:
        return None
    return MemorySample(time.monotonic(), values["VmRSS"], values["VmHWM"])


class MemorySampler:
    """Samples a process's memory every ``interval_s`` in a background thread until stopped."""

    def __init__(self, pid: int, interval_s: float = 1.0) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[MemorySample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"memory-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = read_memory(self.pid)
            if sample is not None:
                self.samples.append(sample)
            self._stop.wait(self.interval_s)

    def stop(self) -> list[MemorySample]:
        """Stop, take a last sample, and return every sample (oldest first)."""
        self._stop.set()
        self._thread.join()
        sample = read_memory(self.pid)
        if sample is not None:
            self.samples.append(sample)
        return self.samples
