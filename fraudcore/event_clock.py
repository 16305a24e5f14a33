"""A stream's event-time clock that a minority of outliers cannot move.

Event times come from producers outside the trust boundary. The decoder already refuses any more
than a day after the wall clock, but a replayed stream runs years behind the wall clock, so a
clock taken as the latest event time seen would jump to "tomorrow" on a single forged transaction,
and every honest one would look years late. Here the clock is the median of the last ``window``
event times observed: it follows the bulk of the traffic, and moving it takes more than half of the
recent transactions. It moves back when honest traffic resumes, and it is per process (each worker
judges the traffic it consumes). Pure code, no wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["EventClock"]


class EventClock:
    """The median of the last ``window`` event times (epoch ms) observed."""

    def __init__(self, window: int = 4096) -> None:
        if window < 1:
            raise ValueError("window must be positive")
        self._ring = np.empty(window, dtype=np.int64)
        self._filled = 0
        self._next = 0
        self._now: int | None = None

    @property
    def now_ms(self) -> int | None:
        """The clock (``None`` before the first observation)."""
        return self._now

    def observe(self, times_ms: Sequence[int]) -> None:
        """Take in the event times of a batch (the most recent ``window`` of them count)."""
        if not times_ms:
            return
        ring, size = self._ring, len(self._ring)
        times = np.asarray(times_ms[-size:], dtype=np.int64)
        first = min(len(times), size - self._next)
        ring[self._next : self._next + first] = times[:first]
        ring[: len(times) - first] = times[first:]
        self._next = (self._next + len(times)) % size
        self._filled = min(self._filled + len(times), size)
        self._now = int(np.median(ring[: self._filled]))
