"""The scale scenario's rebalance pauses: the longest time without a verdict around each join and leave."""

from __future__ import annotations

from chaos.scale import Change, Gap, longest_gap, pauses


def test_the_longest_gap_overlapping_the_window_is_the_pause() -> None:
    appended = [0, 100, 200, 2_200, 2_300, 9_000]
    assert longest_gap(appended, 150, 2_250) == Gap(200, 2_200)
    assert Gap(200, 2_200).seconds == 2.0


def test_a_gap_spanning_the_start_of_the_window_counts_and_one_after_its_end_does_not() -> None:
    appended = [0, 3_000, 3_100, 3_200, 9_000]
    assert longest_gap(appended, 1_000, 3_150) == Gap(0, 3_000)  # began before the change, ended after it
    assert longest_gap(appended, 3_050, 3_150) == Gap(3_000, 3_100)  # 3_200 → 9_000 starts after the window


def test_no_verdict_at_all_or_none_after_the_window_start_is_no_gap() -> None:
    assert longest_gap([], 0, 10) is None
    assert longest_gap([5], 0, 10) is None
    assert longest_gap([0, 100], 200, 300) is None


def test_each_change_is_judged_up_to_the_next_one_and_the_last_up_to_the_last_verdict() -> None:
    appended = [0, 50, 100, 1_100, 1_150, 1_200, 1_250, 4_250, 4_300]
    changes = [Change("join", 60), Change("leave", 1_160)]
    assert pauses(appended, changes) == [Gap(100, 1_100), Gap(1_250, 4_250)]


def test_no_change_has_no_pause() -> None:
    assert pauses([0, 100], []) == []
