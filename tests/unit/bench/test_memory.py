"""The scorer's memory summary."""

from __future__ import annotations

import pytest

from bench.memory import memory_trend
from bench.processes import MemorySample


def _samples() -> list[MemorySample]:
    # 100 MB growing 1 MB per 10 s from t=10 to t=70; a 300 MB spike at t=0 (start-up)
    spike = MemorySample(0.0, 300 * 1024, 300 * 1024)
    steady = [MemorySample(float(t), (100 + (t - 10) // 10) * 1024, 300 * 1024) for t in range(10, 71, 10)]
    return [*reversed(steady), spike]


def test_peak_and_slope_over_the_window() -> None:
    trend = memory_trend(_samples(), 10.0, 70.0, transactions_per_s=1_000.0)
    assert trend.peak_rss_mb == 300.0
    assert trend.hwm_mb == 300.0
    assert trend.window_start_mb == 100.0
    assert trend.window_end_mb == 106.0
    assert trend.window_seconds == 60.0
    assert trend.slope_mb_per_min == pytest.approx(6.0)
    assert trend.slope_mb_per_million == pytest.approx(0.1 / 1_000 * 1e6)
    assert trend.samples == 8


def test_a_window_with_too_few_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="fewer than two"):
        memory_trend(_samples(), 11.0, 12.0, transactions_per_s=1.0)
