"""The event-time clock: the bulk of the traffic sets it, a minority of forged times cannot."""

from __future__ import annotations

import random

import numpy as np
import pytest

from fraudcore.event_clock import EventClock

DAY = 86_400_000
REPLAY = 1_525_132_800_000  # 2018-05-01: a replayed stream, years behind the wall clock
TOMORROW = 1_796_000_000_000  # what the decoder's one-day tolerance lets a forger send in 2026


def honest(start: int, n: int) -> list[int]:
    return [start + i * 1_000 for i in range(n)]


def test_no_clock_before_the_first_observation() -> None:
    clock = EventClock()
    assert clock.now_ms is None
    clock.observe([])
    assert clock.now_ms is None
    with pytest.raises(ValueError, match="positive"):
        EventClock(0)


def test_the_clock_is_the_median_of_the_last_window() -> None:
    rng = random.Random(3)
    clock, seen = EventClock(window=50), list[int]()
    for _ in range(40):
        batch = [rng.randrange(10**12) for _ in range(rng.randrange(0, 23))]
        expected = int(np.median((seen + batch)[-50:])) if seen or batch else None
        assert clock.after(batch) == expected  # what observing would give, without taking it in
        clock.observe(batch)
        seen += batch
        if seen:
            assert clock.now_ms == int(np.median(seen[-50:]))
    assert clock.after(list(range(120))) == int(np.median(range(70, 120)))
    clock.observe(list(range(120)))  # a batch larger than the window: its last 50
    assert clock.now_ms == int(np.median(range(70, 120)))


def test_a_handful_of_forged_future_times_in_a_batch_do_not_move_it() -> None:
    clock = EventClock()
    clock.observe(honest(REPLAY, 2_000))
    before = clock.now_ms
    assert before is not None
    clock.observe([TOMORROW] * 10 + honest(REPLAY + 2_000_000, 90))
    assert clock.now_ms is not None
    assert abs(clock.now_ms - before) < DAY


def test_whole_batches_of_forged_times_are_outvoted_by_the_window() -> None:
    clock = EventClock(window=4096)
    t = REPLAY
    for number in range(200):  # every fifth batch entirely forged: 20 % of the traffic
        batch = [TOMORROW] * 100 if number % 5 == 4 else honest(t, 100)
        t += 100_000
        clock.observe(batch)
        assert clock.now_ms is not None
        assert clock.now_ms < REPLAY + 30 * DAY


def test_a_trickle_of_forged_times_never_accumulates() -> None:
    clock = EventClock(window=1_000)
    t = REPLAY
    for _ in range(2_000):
        clock.observe([*honest(t, 9), TOMORROW])  # 10 % forged, forever
        t += 9_000
    assert clock.now_ms is not None
    assert t - DAY < clock.now_ms <= t


def test_after_a_forged_majority_honest_traffic_takes_it_back() -> None:
    clock = EventClock(window=500)
    clock.observe(honest(REPLAY, 500))
    clock.observe([TOMORROW] * 400)
    assert clock.now_ms == TOMORROW
    clock.observe(honest(REPLAY + DAY, 300))
    assert clock.now_ms is not None
    assert clock.now_ms < REPLAY + 2 * DAY


def test_the_lead_estimates_how_far_the_newest_traffic_is_ahead_of_the_median() -> None:
    clock = EventClock(window=4096)
    assert clock.lead_ms == 0
    steady = [REPLAY + i * 100_000 for i in range(4096)]  # ~4.7 days at a steady rate
    clock.observe(steady)
    assert clock.now_ms is not None
    assert abs(clock.now_ms + clock.lead_ms - steady[-1]) < 200_000
    clock.observe([TOMORROW] * 800)  # forged times under a quarter of the window barely move it
    assert clock.now_ms + clock.lead_ms - steady[-1] < 3 * DAY
