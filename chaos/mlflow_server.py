"""A private MLflow tracking server (``mlflow server``) a scenario can stop and start again.

Its store is a folder of its own: a sqlite file (runs and registry) and an artifact folder the
server proxies (``mlflow-artifacts:``), so clients pointed at its URL reach models only through it,
and stopping it makes the registry and the artifacts unavailable to them at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from bench.processes import free_port
from chaos.harness import ChaosError
from fraudcore.local.process import port_accepts

__all__ = ["MlflowServer", "private_mlflow_server"]

_STARTUP_TIMEOUT_S = 300.0
"""Starting takes seconds on an idle machine and over a minute on a busy one (imports)."""


class MlflowServer:
    """``mlflow server`` over the store in ``home``, on a fixed free port (the same after a restart);
    ``app_name`` picks another server app (``basic-auth``), ``env`` adds variables for it."""

    def __init__(self, home: Path, *, app_name: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.app_name = app_name
        self.env = dict(env or {})
        self.port = free_port()
        self.artifacts = home / "artifacts"
        """Where the server keeps the artifacts it serves (``mlflow-artifacts:/<path>`` → ``artifacts/<path>``)."""
        self.log_path = home / "mlflow.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The tracking URI clients use."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> int:
        """Start the server and wait until it answers; returns that moment (epoch ms)."""
        if port_accepts(self.port):
            raise ChaosError(f"port {self.port} of the private MLflow server is taken by something else")
        argv = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.home / 'mlflow.db'}",
            "--artifacts-destination", str(self.artifacts), "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        if self.app_name is not None:
            argv += ["--app-name", self.app_name]
        env = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"} | self.env  # no job runner: none is needed
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - mlflow's own command line, with the running interpreter
                argv, cwd=self.home, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops the web server it starts
            )  # fmt: skip
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ChaosError(f"the MLflow tracking server did not start\n--- end of its log ---\n{self._tail()}")
            time.sleep(0.2)
        return int(time.time() * 1000)

    def stop(self) -> int:
        """Stop the server's process group (SIGTERM, SIGKILL after 30 s); returns when it is gone (epoch ms)."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        deadline = time.monotonic() + 30
        while port_accepts(self.port) and time.monotonic() < deadline:  # the web server exits after its parent
            time.sleep(0.1)
        return int(time.time() * 1000)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@contextmanager
def private_mlflow_server() -> Iterator[MlflowServer]:
    """A running server over a fresh store; stopped at the end, its folder removed unless the run failed."""
    server = MlflowServer(Path(tempfile.mkdtemp(prefix="fraudstream-mlflow-")))
    try:
        server.start()
        yield server
        shutil.rmtree(server.home, ignore_errors=True)
    finally:
        server.stop()
