"""Whether a worker makes progress on the input it has: the watchdog behind ``/ready``'s stall report.

Input is *pending* while a batch is in progress (fetched and handed to the runtime, not yet done) or
while the last consumer-lag report said records wait on a partition this worker holds. Progress is a
batch done (its verdicts acknowledged, so its offsets may be committed). A worker with pending input
and no progress for longer than the bound is *stalled*: whatever it is waiting for (a topic that was
deleted, a Redis that refuses writes, a broker away), it is not doing its job, and ``/ready`` says so
with the last error it met. Pure code with an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fraudcore.kafka_send_failures import needs_operator

__all__ = ["LastError", "ProgressWatch", "Stall"]


@dataclass(frozen=True)
class LastError:
    """The last error that kept a batch from completing."""

    error: str
    """Its class name (``UnknownTopicOrPartitionError``, ``FeatureStoreUnavailable``...)."""
    message: str
    needs_operator: bool
    """Whether it persists until someone acts (no retry can end it)."""
    at: float
    """When it was last seen (clock seconds)."""


@dataclass(frozen=True)
class Stall:
    """A worker with pending input and no progress for ``for_s`` seconds (over the bound)."""

    for_s: float
    last_error: LastError | None


class ProgressWatch:
    """Pending input, progress and the last error of one worker (see the module doc)."""

    def __init__(self, bound_s: float, clock: Callable[[], float] = time.monotonic, *, sticky_s: float = 10.0) -> None:
        """``sticky_s``: how long an error that needs an operator is kept as the last error against
        transient ones (the symptoms it causes, such as timeouts, say less)."""
        self.bound_s = bound_s
        self._clock = clock
        self._sticky_s = sticky_s
        self._last_progress = clock()
        self._busy_since: float | None = None
        self._lagging_since: float | None = None
        self.last_error: LastError | None = None

    def started(self) -> None:
        """A batch was handed over."""
        if self._busy_since is None:
            self._busy_since = self._clock()

    def progressed(self) -> None:
        """A batch is done: its results are acknowledged."""
        self._last_progress = self._clock()
        self._busy_since = None
        self.last_error = None

    def lag(self, records: int) -> None:
        """The latest consumer-lag report: ``records`` wait on this worker's partitions."""
        if records <= 0:
            self._lagging_since = None
        elif self._lagging_since is None:
            self._lagging_since = self._clock()

    def failed(self, error: BaseException, *, operator: bool | None = None) -> None:
        """An error kept the current batch from completing (it is retried); ``operator`` overrides
        whether only an operator can end it (default: :func:`~fraudcore.kafka_send_failures.needs_operator`)."""
        needs = needs_operator(error) if operator is None else operator
        now, last = self._clock(), self.last_error
        if not needs and last is not None and last.needs_operator and now - last.at < self._sticky_s:
            return
        self.last_error = LastError(type(error).__name__, str(error) or repr(error), needs, now)

    def waiting_s(self) -> float:
        """How long pending input has waited without progress (0 when nothing is pending)."""
        pending = [since for since in (self._busy_since, self._lagging_since) if since is not None]
        if not pending:
            return 0.0
        return max(self._clock() - max(min(pending), self._last_progress), 0.0)

    def stall(self) -> Stall | None:
        """The stall, when pending input has waited without progress for longer than the bound."""
        waited = self.waiting_s()
        return Stall(waited, self.last_error) if waited > self.bound_s else None
