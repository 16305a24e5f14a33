"""A real local ``redis-server`` (from Debian's package) keeping its data under ``<data_dir>/redis``.

Persistence: RDB snapshots (every 5 minutes after a change, and on the clean shutdown SIGTERM
triggers), so ``down`` followed by ``up`` keeps the online features; ``down --wipe`` deletes them. A
snapshot forks and writes the whole dataset: on two cores shared with the scorer, each one stalls
scoring for up to a second (``BENCHMARKS.md``), hence not every minute.

With ``FRAUD_REDIS_PASSWORD`` set the server requires it (``requirepass``, or an ACL user named
``FRAUD_REDIS_USERNAME``), written to a config file only its owner can read, never to the command line.
"""

from __future__ import annotations

import os
import shutil

from fraudcore.local.process import ManagedProcess, ensure_port_free, port_accepts, require_program
from fraudcore.settings import Settings

__all__ = ["RedisServer"]

_SNAPSHOT_POLICY = "300 1"
"""Redis's ``save`` rule: snapshot once 300 s have passed since the last snapshot and a key changed."""
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
            server, *self._auth_config(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(self.home),
            "--dbfilename", "dump.rdb", "--save", _SNAPSHOT_POLICY, "--daemonize", "no",
            "--protected-mode", "yes", "--logfile", "",
        ]  # fmt: skip
        self.process.start(argv, cwd=self.home)
        self.process.wait_ready(lambda: port_accepts(port), self._settings.startup_timeout_s, "Redis")

    def _auth_config(self) -> list[str]:
        """The config file holding the password (first argument of ``redis-server``), if one is set."""
        password = self._settings.redis_password
        config = self.home / "auth.conf"
        config.unlink(missing_ok=True)
        if password is None:
            return []
        secret, user = password.get_secret_value(), self._settings.redis_username
        lines = [f"requirepass {_quoted(secret)}"]
        if user is not None and user != "default":
            lines = [f"user {_quoted(user)} on {_quoted('>' + secret)} ~* &* +@all", "user default off"]
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
        return [str(config)]

    def stop(self) -> bool:
        """Stop ``redis-server`` (it saves a snapshot first); ``True`` if it was running."""
        return self.process.stop()

    def wipe(self) -> None:
        """Delete the snapshot and everything else under the Redis folder."""
        shutil.rmtree(self.home, ignore_errors=True)


def _quoted(value: str) -> str:
    """``value`` as a double-quoted ``redis.conf`` argument."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
