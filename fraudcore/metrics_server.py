"""Serving a Prometheus registry on ``http://host:port/metrics`` from a background thread.

Used by the processes that have no web server of their own (the trainer, the producer). A port
that cannot be bound is an :class:`~fraudcore.local.errors.InfraError` naming the variable to
change, raised before anything else starts.
"""

from __future__ import annotations

import errno
import socket
from threading import Thread
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from fraudcore.local.errors import InfraError

__all__ = ["MetricsPortInUse", "MetricsServer", "serve_metrics"]


class MetricsPortInUse(InfraError):
    """The metrics port is taken by another process."""

    def __init__(self, service: str, host: str, port: int, setting: str) -> None:
        super().__init__(
            f"{service} cannot serve metrics on {host}:{port}: the port is in use by another process. "
            f"Stop that process or choose another port with {setting}=<port>."
        )
        self.port = port


class MetricsServer:
    """A running ``/metrics`` server; :meth:`close` (or leaving the ``with`` block) stops it."""

    def __init__(self, server: WSGIServer, thread: Thread, host: str, port: int) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Where the metrics are scraped."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def serve_metrics(registry: CollectorRegistry, host: str, port: int, *, service: str, setting: str) -> MetricsServer:
    """Serve ``registry`` on ``host:port``; ``setting`` names the variable that chooses the port."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except socket.gaierror as exc:
        raise InfraError(
            f"{service} cannot serve metrics on {host}:{port}: unknown host ({exc}); check FRAUD_METRICS_HOST"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise MetricsPortInUse(service, host, port, setting) from exc
        raise InfraError(
            f"{service} cannot serve metrics on {host}:{port}: {exc.strerror or exc}; "
            f"check FRAUD_METRICS_HOST and {setting}"
        ) from exc
    return MetricsServer(server, thread, host, port)
