"""The arithmetic of the measurements: rates from output timestamps, percentiles, gaps, slopes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Gaps", "largest_gaps", "linear_slope", "percentiles", "window_rate"]


def window_rate(timestamps_ms: Sequence[int]) -> float:
    """Records per second between the first and the last output timestamp.

    The records stamped at the first instant are the window's start, not part of its throughput:
    the rate counts the records after it over the time from the first to the last, so a process's
    start-up (before its first output) never enters it. Raises ``ValueError`` with fewer than two
    distinct instants.
    """
    if not timestamps_ms:
        raise ValueError("no output records")
    stamps = np.asarray(timestamps_ms, dtype=np.int64)
    first, last = int(stamps.min()), int(stamps.max())
    if last == first:
        raise ValueError("every output record carries the same timestamp: the window is too short to time")
    return float(np.count_nonzero(stamps > first)) / ((last - first) / 1000)


def percentiles(values: Sequence[float], quantiles: Sequence[float]) -> list[float]:
    """The given quantiles (0..1) of ``values``, each an observed value (the nearest rank above)."""
    if not values:
        raise ValueError("no values")
    return [float(q) for q in np.quantile(np.asarray(values, dtype=np.float64), quantiles, method="higher")]


@dataclass(frozen=True)
class Gaps:
    """The largest silence of an output stream inside a window of interest, and outside it."""

    inside_ms: int
    """Largest gap between consecutive outputs that overlaps the window."""
    outside_ms: int
    """Largest gap that does not (0 when there is none)."""


def largest_gaps(timestamps_ms: Sequence[int], window_start_ms: int, window_end_ms: int) -> Gaps:
    """Gaps between consecutive (sorted) timestamps, split by whether they overlap the window."""
    stamps = np.sort(np.asarray(timestamps_ms, dtype=np.int64))
    if stamps.size < 2:
        raise ValueError("fewer than two outputs")
    starts, ends = stamps[:-1], stamps[1:]
    sizes = ends - starts
    overlaps = (ends >= window_start_ms) & (starts <= window_end_ms)
    inside = int(sizes[overlaps].max()) if overlaps.any() else 0
    outside = int(sizes[~overlaps].max()) if (~overlaps).any() else 0
    return Gaps(inside, outside)


def linear_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of ``ys`` over ``xs`` (0 with fewer than two distinct ``xs``)."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0:
        return 0.0
    centred = x - x.mean()
    return float(np.dot(centred, y - y.mean()) / np.dot(centred, centred))
