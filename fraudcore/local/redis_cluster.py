"""A throw-away local Redis Cluster: three masters, no replicas, no persistence (for tests and benchmarks).

Each master is a ``redis-server --cluster-enabled yes`` on its own port, with its files in its own
folder; ``redis-cli --cluster create`` assigns the slots. :meth:`LocalRedisCluster.start` returns once
every node reports ``cluster_state:ok``.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fraudcore.local.errors import StartupError
from fraudcore.local.process import port_accepts, require_program, tail

__all__ = ["LocalRedisCluster", "free_cluster_ports"]

_HINT = "Install the Debian package redis-server (it brings redis-cli)."
_BUS_OFFSET = 10_000
"""A node's cluster bus listens on its port plus this."""


def free_cluster_ports(count: int) -> list[int]:
    """``count`` ports nothing listens on, each with its bus port (``+ 10000``) free too."""
    ports: list[int] = []
    candidate = random.randrange(20_000, 50_000)  # noqa: S311 - not for security
    while len(ports) < count:
        candidate += 1
        if candidate > 55_535:
            candidate = 20_000
        if all(_bindable(port) for port in (candidate, candidate + _BUS_OFFSET)):
            ports.append(candidate)
    return ports


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LocalRedisCluster:
    """Masters on ``ports`` (three or more, at most 55535: see :func:`free_cluster_ports`) keeping their
    files under ``home``."""

    def __init__(self, home: Path, ports: Sequence[int], *, timeout_s: float = 30.0) -> None:
        if len(ports) < 3:
            raise ValueError("a Redis Cluster needs at least three masters")
        self.home = home
        self.ports = tuple(ports)
        self.timeout_s = timeout_s
        self._servers: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A URL of one node (a cluster client discovers the others)."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        """Start the masters, create the cluster and wait until it serves every slot."""
        server, cli = require_program("redis-server", _HINT), require_program("redis-cli", _HINT)
        try:
            for port in self.ports:
                folder = self.home / str(port)
                folder.mkdir(parents=True, exist_ok=True)
                argv = [
                    server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--appendonly", "no", "--save", "", "--daemonize", "no", "--logfile", "redis.log",
                ]  # fmt: skip
                self._servers.append(subprocess.Popen(argv, cwd=folder, stdin=subprocess.DEVNULL))  # noqa: S603
            self._wait(lambda: all(port_accepts(port) for port in self.ports), "the masters to accept connections")
            nodes = [f"127.0.0.1:{port}" for port in self.ports]
            create = [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"]
            done = subprocess.run(create, capture_output=True, timeout=self.timeout_s, check=False)  # noqa: S603
            if done.returncode != 0:
                raise StartupError(
                    "Redis Cluster", "redis-cli --cluster create failed", (done.stdout + done.stderr).decode()
                )
            self._wait(lambda: all(self._state_ok(cli, port) for port in self.ports), "cluster_state:ok")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the masters (their files stay under ``home``)."""
        for process in self._servers:
            process.terminate()
        for process in self._servers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._servers.clear()

    def _state_ok(self, cli: str, port: int) -> bool:
        info = subprocess.run(  # noqa: S603
            [cli, "-p", str(port), "cluster", "info"], capture_output=True, timeout=5, check=False
        )
        return b"cluster_state:ok" in info.stdout

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not ready():
            if any(process.poll() is not None for process in self._servers) or time.monotonic() > deadline:
                logs = "\n".join(tail(self.home / str(port) / "redis.log") for port in self.ports)
                raise StartupError("Redis Cluster", f"gave up waiting for {what}", logs)
            time.sleep(0.1)
