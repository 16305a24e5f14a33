"""A real local ``redis-server`` (from Debian's package) keeping its data under ``<data_dir>/redis``.

Persistence: RDB snapshots (every 60 s after a change, and on the clean shutdown SIGTERM triggers),
so ``down`` followed by ``up`` keeps the online features; ``down --wipe`` deletes them.
"""

from __future__ import annotations

import shutil

from fraudcore.local.process import ManagedProcess, ensure_port_free, port_accepts, require_program
from fraudcore.settings import Settings

__all__ = ["RedisServer"]

_REDIS_HINT = "Install it with `make setup` (Debian package redis-server) or set FRAUD_REDIS_URL to an existing Redis."


class RedisServer:
    """Start and stop the local ``redis-server`` described by the settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.home = settings.data_dir / "redis"
        self.process = ManagedProcess(
            name="redis",
            run_dir=settings.data_dir / "run",
            log_file=settings.data_dir / "logs" / "redis.log",
            marker=f"127.0.0.1:{settings.redis_port}",
        )

    def start(self) -> None:
        """Start ``redis-server`` and wait until it accepts connections; no-op when it already runs."""
        if self.process.pid() is not None:
            return
        server = require_program("redis-server", _REDIS_HINT)
        port = self._settings.redis_port
        ensure_port_free("Redis", port, "FRAUD_REDIS_PORT")
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [
            server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(self.home),
            "--dbfilename", "dump.rdb", "--save", "60 1", "--daemonize", "no",
            "--protected-mode", "yes", "--logfile", "",
        ]  # fmt: skip
        self.process.start(argv, cwd=self.home)
        self.process.wait_ready(lambda: port_accepts(port), self._settings.startup_timeout_s, "Redis")

    def stop(self) -> bool:
        """Stop ``redis-server`` (it saves a snapshot first); ``True`` if it was running."""
        return self.process.stop()

    def wipe(self) -> None:
        """Delete the snapshot and everything else under the Redis folder."""
        shutil.rmtree(self.home, ignore_errors=True)
