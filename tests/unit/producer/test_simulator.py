"""The handbook simulator: determinism, the fraud rate and the three scenarios."""

from __future__ import annotations

import itertools
from datetime import datetime

import numpy as np
import pytest

from producer.simulator import SECONDS_PER_DAY, SimulatedDay, SimulationParams, Simulator

SMALL = SimulationParams(seed=11, n_customers=500, n_terminals=1_000, days=30)


def _all_days(params: SimulationParams) -> list[SimulatedDay]:
    return list(Simulator(params).days())


def _concat(days: list[SimulatedDay], column: str) -> np.ndarray:
    return np.concatenate([getattr(day, column) for day in days])


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    first, second = _all_days(SMALL), _all_days(SMALL)
    for column in ("seconds", "customer", "terminal", "amount", "scenario"):
        np.testing.assert_array_equal(_concat(first, column), _concat(second, column))
    other = _all_days(SimulationParams(seed=12, n_customers=500, n_terminals=1_000, days=30))
    assert not np.array_equal(_concat(first, "amount")[:100], _concat(other, "amount")[:100])


def test_rows_are_in_event_time_order_within_each_day() -> None:
    for day in _all_days(SMALL):
        assert np.all(np.diff(day.seconds) >= 0)
        assert day.seconds.min(initial=0) >= 0
        assert day.seconds.max(initial=0) < SECONDS_PER_DAY
        times = day.event_times(SMALL.start)
        assert all(a <= b for a, b in itertools.pairwise(times))


def test_customers_only_pay_at_terminals_within_the_radius() -> None:
    simulator = Simulator(SMALL)
    day = next(simulator.days())
    distance = np.linalg.norm(simulator.customer_xy[day.customer] - simulator.terminal_xy[day.terminal], axis=1)
    assert np.all(distance < SMALL.radius)


def test_amounts_are_non_negative_and_scenario_one_is_above_the_threshold() -> None:
    days = _all_days(SMALL)
    amount, scenario = _concat(days, "amount"), _concat(days, "scenario")
    assert np.all(amount >= 0)
    assert np.all(amount[scenario == 1] > SMALL.amount_threshold)
    assert np.all(amount[scenario == 0] <= SMALL.amount_threshold)


def test_default_parameters_give_the_handbook_fraud_rate_and_scenario_mix() -> None:
    params = SimulationParams(seed=3, days=60)
    scenario = _concat(_all_days(params), "scenario")
    counts = np.bincount(scenario, minlength=4)
    rate = counts[1:].sum() / len(scenario)
    assert 0.004 < rate < 0.012, rate
    assert all(counts[1:] > 0), counts


def test_every_payment_at_a_compromised_terminal_is_fraud() -> None:
    params = SimulationParams(seed=5, n_customers=500, n_terminals=200, days=10)
    seen_compromised = 0
    for day in Simulator(params).days():
        for terminal in np.unique(day.terminal[day.scenario == 2]):
            at_terminal = day.scenario[day.terminal == terminal]
            assert np.all(at_terminal != 0), "a genuine payment at a compromised terminal"
            seen_compromised += 1
    assert seen_compromised > 0


def test_compromised_customers_lose_the_configured_share_at_inflated_amounts() -> None:
    params = SimulationParams(seed=8, n_customers=300, n_terminals=600, days=40, compromised_customers_per_day=5)
    simulator = Simulator(params)
    days = list(simulator.days())
    scenario, customer, amount = (_concat(days, c) for c in ("scenario", "customer", "amount"))
    assert np.count_nonzero(scenario == 3) > 0
    fraud_amounts = amount[scenario == 3]
    typical = simulator.mean_amount[customer[scenario == 3]]
    assert np.median(fraud_amounts / typical) > 2.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_customers": 0}, "n_customers must be positive"),
        ({"start": datetime(2018, 4, 1)}, "start must be timezone-aware"),
        ({"customer_fraud_share": 1.5}, "customer_fraud_share"),
        ({"radius": 0.0}, "radius must be positive"),
        ({"mean_tx_per_day": 0.0}, "mean_tx_per_day must be positive"),
    ],
)
def test_invalid_parameters_are_explained(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationParams(**changes)  # type: ignore[arg-type]


def test_an_injected_shift_scales_the_amounts_from_its_day_on() -> None:
    plain = _all_days(SMALL)
    shifted = _all_days(SimulationParams(**{**SMALL.__dict__, "shift_day": 10, "shift_amount_factor": 3.0}))
    before = np.concatenate([day.amount for day in shifted[:10]])
    after_plain = np.concatenate([day.amount for day in plain[10:]])
    after_shifted = np.concatenate([day.amount for day in shifted[10:]])
    assert np.array_equal(before, np.concatenate([day.amount for day in plain[:10]]))
    assert 2.5 < after_shifted.mean() / after_plain.mean() < 3.5


def test_the_mean_rate_sets_the_payments_per_customer_and_day() -> None:
    slow = sum(len(day) for day in _all_days(SMALL))
    fast = sum(len(day) for day in _all_days(SimulationParams(**{**SMALL.__dict__, "mean_tx_per_day": 6.0})))
    assert 2.5 < fast / slow < 3.5
    assert slow / (SMALL.n_customers * SMALL.days) < 2.0  # customers without a terminal in reach pay nothing
