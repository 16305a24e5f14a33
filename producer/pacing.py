"""Pacing a stream to a target rate, and a progress line with the achieved rate."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TextIO

__all__ = ["Pacer", "Progress"]


class Pacer:
    """Holds a producer to ``rate`` items per second on an absolute schedule (no drift: a slow
    moment is caught up, never accumulated). ``rate=None``: as fast as possible."""

    def __init__(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self._start = time.monotonic()

    async def wait_turn(self, done: int, stop: asyncio.Event) -> None:
        """Sleep until item number ``done`` (0-based) is due, or ``stop`` is set."""
        if self.rate is None:
            if done % 1024 == 0:
                await asyncio.sleep(0)  # let deliveries complete
            return
        delay = self._start + done / self.rate - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


class Progress:
    """A one-line progress report on ``stream``: rewritten in place on a terminal, otherwise a
    line every ``interval_s`` seconds."""

    def __init__(
        self, total: int | None, stream: TextIO | None = None, interval_s: float | None = None, *, enabled: bool = True
    ) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._tty = self.stream.isatty()
        self.interval_s = interval_s if interval_s is not None else (0.25 if self._tty else 10.0)
        self._start = time.monotonic()
        self._last = self._start
        self._shown = False

    def update(self, transactions: int, labels: int, *, final: bool = False) -> None:
        """Report the counts so far (cheap when called often: it looks at the clock only)."""
        now = time.monotonic()
        if not self.enabled:
            return
        if not final and now - self._last < self.interval_s:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        share = f" {100 * transactions / self.total:5.1f}%" if self.total else ""
        line = (
            f"{share} {transactions:,} transactions, {labels:,} labels"
            f" | {(transactions + labels) / elapsed:,.0f} msg/s | {elapsed:,.0f} s"
        )
        if self._tty:
            self.stream.write("\r" + line.ljust(72) + ("\n" if final else ""))
        else:
            self.stream.write(line.strip() + "\n")
        self.stream.flush()
        self._shown = True
