"""The arithmetic of the measurements."""

from __future__ import annotations

import pytest

from bench.stats import Gaps, largest_gaps, linear_slope, percentiles, window_rate


def test_the_rate_counts_the_records_after_the_first_instant_over_the_window() -> None:
    # 3 records at the start (the first batch), then 4 more over 2 seconds: 4 records / 2 s
    assert window_rate([1_000, 1_000, 1_000, 1_500, 2_000, 2_500, 3_000]) == pytest.approx(2.0)


def test_the_rate_does_not_depend_on_the_order_of_the_timestamps() -> None:
    assert window_rate([3_000, 1_000, 2_000]) == window_rate([1_000, 2_000, 3_000]) == pytest.approx(1.0)


@pytest.mark.parametrize("stamps", [[], [5, 5, 5]])
def test_a_window_without_duration_has_no_rate(stamps: list[int]) -> None:
    with pytest.raises(ValueError, match="output"):
        window_rate(stamps)


def test_percentiles_are_observed_values() -> None:
    values = [float(v) for v in range(1, 1001)]
    assert percentiles(values, [0.5, 0.99, 0.999, 1.0]) == [501.0, 991.0, 1000.0, 1000.0]


def test_gaps_are_split_by_the_window() -> None:
    stamps = [0, 10, 20, 30, 300, 310, 320, 400, 410]  # a 270 ms silence inside, 80 ms outside
    assert largest_gaps(stamps, 25, 305) == Gaps(inside_ms=270, outside_ms=80)


def test_a_gap_overlapping_the_window_edge_counts_as_inside() -> None:
    assert largest_gaps([0, 100, 200, 500], 450, 460) == Gaps(inside_ms=300, outside_ms=100)


def test_the_slope_is_least_squares() -> None:
    assert linear_slope([0, 1, 2, 3], [1, 3, 5, 7]) == pytest.approx(2.0)
    assert linear_slope([0, 1, 2, 3], [5, 5, 5, 5]) == 0.0
    assert linear_slope([1], [1]) == 0.0
