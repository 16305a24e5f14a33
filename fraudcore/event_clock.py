"""A stream's event-time clock that a minority of outliers cannot move.

Event times come from producers outside the trust boundary. The decoder already refuses any more
than a day after the wall clock, but a replayed stream runs years behind the wall clock, so a
clock taken as the latest event time seen would jump to "tomorrow" on a single forged transaction,
and every honest one would look years late. Here the clock is the median of the last ``window``
event times observed: it follows the bulk of the traffic, and moving it takes more than half of the
recent transactions. It moves back when honest traffic resumes, and it is per process (each worker
judges the traffic it consumes). A caller judges a batch by :meth:`EventClock.after` (the clock with
the batch taken in, so a first batch is judged too) and then observes only the times it accepted, so
traffic it refused as too old never drags the clock back. The median lags the newest traffic by half
the window's time span (days on a quiet stream); :attr:`EventClock.lead_ms` estimates that lag from
the upper quartile, so a bound "ahead of the stream" can allow for it. Pure code, no wall clock.
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
        self._lead = 0

    @property
    def now_ms(self) -> int | None:
        """The clock (``None`` before the first observation)."""
        return self._now

    @property
    def window(self) -> int:
        """How many of the latest event times the clock takes the median of."""
        return len(self._ring)

    @property
    def lead_ms(self) -> int:
        """How far the newest traffic is ahead of the clock: twice the distance from the median to the
        upper quartile of the window (exact for a steady rate; forged times move it only once they are
        a quarter of the window). 0 before the first observation."""
        return self._lead

    def sample(self) -> list[int]:
        """The event times the clock holds, oldest first: :meth:`observe` of them on a new clock of the
        same window gives the same clock (how a saved state is restored)."""
        ring = self._ring[: self._filled]
        if self._filled == len(self._ring):
            ring = np.concatenate((ring[self._next :], ring[: self._next]))
        return [int(time) for time in ring.tolist()]

    def after(self, times_ms: Sequence[int]) -> int | None:
        """The clock as it would be after observing ``times_ms``; nothing is taken in."""
        if not times_ms:
            return self._now
        size = len(self._ring)
        times = np.asarray(times_ms[-size:], dtype=np.int64)
        keep = min(self._filled, size - len(times))
        if keep <= 0:
            return int(np.median(times))
        ring = self._ring[: self._filled]
        if self._filled == size:  # in order, oldest first
            ring = np.concatenate((ring[self._next :], ring[: self._next]))
        return int(np.median(np.concatenate((ring[-keep:], times))))

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
        median, upper = np.quantile(ring[: self._filled], [0.5, 0.75])
        self._now, self._lead = int(median), int(2 * (upper - median))
