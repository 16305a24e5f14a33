"""Errors of the local infrastructure launcher.

::

    InfraError                 anything the user must fix before the local stack can run
    ├── MissingToolError       a program (java, mvn, redis-server) is not installed
    ├── PortInUseError         a port the stack needs is taken by another process
    └── StartupError           a service was started but did not become ready (carries its log tail)
"""

from __future__ import annotations

__all__ = ["InfraError", "MissingToolError", "PortInUseError", "StartupError"]


class InfraError(Exception):
    """The local infrastructure cannot be started, checked or stopped as asked."""


class MissingToolError(InfraError):
    """A program the local stack needs is not installed."""

    def __init__(self, program: str, hint: str) -> None:
        super().__init__(f"'{program}' was not found on PATH. {hint}")
        self.program = program


class PortInUseError(InfraError):
    """A port the local stack must listen on is already taken."""

    def __init__(self, service: str, port: int, setting: str) -> None:
        super().__init__(
            f"{service} cannot listen on 127.0.0.1:{port}: the port is in use by another process. "
            f"Stop that process or choose another port with {setting}=<port>."
        )
        self.port = port


class StartupError(InfraError):
    """A service was launched but did not become ready."""

    def __init__(self, service: str, reason: str, log_tail: str) -> None:
        message = f"{service} failed to start: {reason}"
        if log_tail:
            message += f"\nLast lines of its log:\n{log_tail}"
        super().__init__(message)
        self.log_tail = log_tail
