"""Detached service processes tracked by pid files.

A service started by ``fraudstream up`` outlives the command, so it runs in its own session and is
found again through ``<run_dir>/<name>.pid``. A pid is trusted only while ``/proc/<pid>/cmdline``
still contains the service's marker (its config path), so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fraudcore.local.errors import MissingToolError, PortInUseError, StartupError

__all__ = ["ManagedProcess", "ensure_port_free", "port_accepts", "require_program", "tail"]

# Children this process launched, kept so that they are reaped through their Popen (no zombie,
# no "still running" warning when a service deliberately outlives the command that started it).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def require_program(program: str, hint: str) -> str:
    """The absolute path of ``program``, or :class:`MissingToolError` with ``hint``."""
    found = shutil.which(program)
    if found is None:
        raise MissingToolError(program, hint)
    return found


def port_accepts(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def ensure_port_free(service: str, port: int, setting: str) -> None:
    """Raise :class:`PortInUseError` unless ``127.0.0.1:port`` can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUseError(service, port, setting) from exc


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class ManagedProcess:
    """One detached service process: its pid file, log file and command-line marker."""

    name: str
    run_dir: Path
    log_file: Path
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        """The pid of the running service, or ``None`` (stale pid files are removed)."""
        try:
            pid = int(self.pid_file.read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            return None
        if self._is_ours(pid):
            return pid
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return None

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        return state[0] != "Z" and self.marker.encode() in cmdline

    def start(self, argv: Sequence[str], cwd: Path) -> int:
        """Launch ``argv`` detached, logging to :attr:`log_file`; returns the pid."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            child = subprocess.Popen(  # noqa: S603 - argv is built by the launcher, not a shell
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN[child.pid] = child
        # Popen returns once exec has begun, but the kernel fills /proc/<pid>/cmdline a moment
        # later; wait for it so that the pid check below never mistakes the new process for a stranger.
        deadline = time.monotonic() + 5.0
        while child.poll() is None and not self._is_ours(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.pid_file.write_text(f"{child.pid}\n", encoding="ascii")
        return child.pid

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``ready`` until it holds; :class:`StartupError` if the process dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise StartupError(what, "the process exited", tail(self.log_file))
            if ready():
                return
            time.sleep(0.2)
        self.stop()
        raise StartupError(what, f"not ready after {timeout_s:.0f} s", tail(self.log_file))

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM the service (SIGKILL after ``timeout_s``); ``True`` if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        # From here on the pid is known to be ours: wait on the process itself, not its cmdline,
        # which the kernel empties while the process is still exiting.
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _running(pid):
            _reap(pid)
            time.sleep(0.1)
        if _running(pid):
            _signal(pid, signal.SIGKILL)
            while _running(pid):
                _reap(pid)
                time.sleep(0.05)
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and has not finished exiting (zombies and dead tasks count as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in {"Z", "X"}


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child (no-op for processes we did not fork)."""
    child = _CHILDREN.get(pid)
    if child is None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    elif child.poll() is not None:
        del _CHILDREN[pid]
