"""A progress bar on a terminal stream (stderr), one phase at a time.

On a terminal the bar is redrawn in place at most ``redraw_s`` apart; elsewhere (a log file, a pipe)
a line is written at each tenth of the phase, so logs stay short. A quiet progress writes nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_WIDTH = 30


class Progress:
    """Counts one phase's items against its total and shows the share done and the rate."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, redraw_s: float = 0.1) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.redraw_s = redraw_s
        self._interactive = not quiet and self.stream.isatty()
        self._phase = ""
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._shown_at = 0.0
        self._shown_tenths = -1

    def start(self, phase: str, total: int) -> None:
        """Begin a phase of ``total`` items."""
        self._phase, self._total, self._done = phase, max(total, 0), 0
        self._started = self._shown_at = time.monotonic()
        self._shown_tenths = -1
        self._show(force=True)

    def advance(self, count: int) -> None:
        """Count ``count`` more items done."""
        self._done += count
        self._show(force=False)

    def finish(self) -> float:
        """End the phase (if one began); returns its duration in seconds."""
        if not self._phase:
            return 0.0
        elapsed = time.monotonic() - self._started
        if self._interactive:
            self.stream.write("\r" + self._line(elapsed) + "\n")
            self.stream.flush()
        elif not self.quiet and self._shown_tenths < 10:
            self._write_line(elapsed)
        self._phase = ""
        return elapsed

    def _show(self, *, force: bool) -> None:
        if self.quiet or not self._phase:
            return
        now = time.monotonic()
        if self._interactive:
            if force or now - self._shown_at >= self.redraw_s:
                self._shown_at = now
                self.stream.write("\r" + self._line(now - self._started))
                self.stream.flush()
            return
        tenths = 10 * self._done // self._total if self._total else 0
        if tenths > self._shown_tenths:
            self._shown_tenths = tenths
            self._write_line(now - self._started)

    def _write_line(self, elapsed: float) -> None:
        self.stream.write(self._line(elapsed) + "\n")
        self.stream.flush()

    def _line(self, elapsed: float) -> str:
        share = min(self._done / self._total, 1.0) if self._total else 1.0
        filled = round(share * _WIDTH)
        rate = self._done / elapsed if elapsed > 0 else 0.0
        return (
            f"{self._phase:<10} [{'#' * filled}{'.' * (_WIDTH - filled)}] {share:4.0%} "
            f"{self._done:,}/{self._total:,}  {rate:,.0f}/s"
        )
