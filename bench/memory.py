"""The scorer's memory over a run: its peak, and its trend while it serves a steady load."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.processes import MemorySample
from bench.stats import linear_slope

__all__ = ["MemoryTrend", "memory_trend"]

_KB_PER_MB = 1024


@dataclass(frozen=True)
class MemoryTrend:
    """Peak resident memory of the process, and its slope over the steady window."""

    peak_rss_mb: float
    """Largest ``VmRSS`` sampled."""
    hwm_mb: float
    """``VmHWM`` at the end: the kernel's own peak (catches what sampling missed)."""
    window_start_mb: float
    window_end_mb: float
    window_seconds: float
    slope_mb_per_min: float
    """Least-squares slope of ``VmRSS`` over the window."""
    slope_mb_per_million: float
    """The same slope per million transactions scored at the window's rate."""
    samples: int


def memory_trend(samples: Sequence[MemorySample], start: float, end: float, transactions_per_s: float) -> MemoryTrend:
    """Summarise ``samples`` (one process); the trend over ``[start, end]`` (``time.monotonic()``)."""
    if not samples:
        raise ValueError("no memory samples")
    ordered = sorted(samples, key=lambda sample: sample.at)
    window = [sample for sample in ordered if start <= sample.at <= end]
    if len(window) < 2:
        raise ValueError("fewer than two memory samples in the window")
    per_s = linear_slope([s.at for s in window], [s.rss_kb / _KB_PER_MB for s in window])
    return MemoryTrend(
        peak_rss_mb=max(sample.rss_kb for sample in ordered) / _KB_PER_MB,
        hwm_mb=max(sample.hwm_kb for sample in ordered) / _KB_PER_MB,
        window_start_mb=window[0].rss_kb / _KB_PER_MB,
        window_end_mb=window[-1].rss_kb / _KB_PER_MB,
        window_seconds=window[-1].at - window[0].at,
        slope_mb_per_min=per_s * 60,
        slope_mb_per_million=per_s / transactions_per_s * 1e6 if transactions_per_s > 0 else 0.0,
        samples=len(ordered),
    )
