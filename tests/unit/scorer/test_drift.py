"""Drift signals stay low on a stationary stream and rise when the stream shifts."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fraudcore.features.definition import FEATURE_NAMES
from scorer.drift import DriftMonitor, population_stability_index
from scorer.drift_watch import PSI_ALARM, DriftWatch
from scorer.metrics import ScorerMetrics
from tests.unit.scorer.twins import loaded_model
from tests.unit.trainer.twins import FakeClock

NAMES = ("amount", "is_night", "customer_nb_tx_1d")


def _rows(rng: np.random.Generator, n: int, amount_mean: float = 50.0) -> np.ndarray:
    return np.column_stack(
        [rng.gamma(2.0, amount_mean / 2, n), (rng.random(n) < 0.2).astype(float), rng.poisson(2.0, n).astype(float)]
    )


def test_psi_of_identical_distributions_is_zero_and_grows_with_the_shift() -> None:
    same = np.array([0.25, 0.25, 0.5])
    assert population_stability_index(same, same) == pytest.approx(0.0)
    small = population_stability_index(same, np.array([0.3, 0.25, 0.45]))
    large = population_stability_index(same, np.array([0.6, 0.3, 0.1]))
    assert 0 < small < 0.1 < 0.25 < large


def test_a_stationary_stream_keeps_every_signal_low() -> None:
    rng = np.random.default_rng(0)
    monitor = DriftMonitor(_rows(rng, 5000), NAMES, window=4000)
    for _ in range(40):
        monitor.observe(_rows(rng, 250), rng.beta(1, 20, 250))
    psi = monitor.psi()
    assert set(psi) == set(NAMES)
    assert max(psi.values()) < 0.05
    assert monitor.score_drifts == 0


def test_a_shifted_stream_raises_the_feature_and_score_signals() -> None:
    rng = np.random.default_rng(1)
    monitor = DriftMonitor(_rows(rng, 5000), NAMES, window=4000)
    for _ in range(40):
        monitor.observe(_rows(rng, 250), rng.beta(1, 20, 250))
    for _ in range(40):  # amounts triple and the model's scores rise
        monitor.observe(_rows(rng, 250, amount_mean=150.0), rng.beta(4, 10, 250))
    psi = monitor.psi()
    assert psi["amount"] > 0.25
    assert psi["is_night"] < 0.05
    assert monitor.score_drifts >= 1


def test_a_change_in_the_live_fraud_rate_is_detected() -> None:
    rng = np.random.default_rng(2)
    monitor = DriftMonitor(_rows(rng, 1000), NAMES)
    assert not monitor.observe_labels((rng.random(20_000) < 0.01).tolist())
    assert monitor.observe_labels((rng.random(5_000) < 0.08).tolist())
    assert monitor.fraud_rate_drifts >= 1


def test_psi_waits_for_enough_rows() -> None:
    rng = np.random.default_rng(3)
    monitor = DriftMonitor(_rows(rng, 1000), NAMES, min_rows=500)
    monitor.observe(_rows(rng, 100), rng.random(100))
    assert monitor.psi() == {}


def test_the_halves_tell_a_feature_settling_back_from_one_moving_away() -> None:
    rng = np.random.default_rng(4)
    monitor = DriftMonitor(_rows(rng, 5000), NAMES, window=4000, min_rows=4000)
    assert monitor.psi_by_half() == {}
    for step in range(16):  # counts warm up toward the reference (a cold store filling) while amounts grow
        rows = _rows(rng, 250, amount_mean=50.0 + 10 * step)
        rows[:, 2] = rng.poisson(2.0 * (step + 1) / 16, 250)
        monitor.observe(rows, rng.random(250))
    older, newer = monitor.psi_by_half()["customer_nb_tx_1d"]
    assert newer < older
    assert monitor.psi()["customer_nb_tx_1d"] > 0.25
    older, newer = monitor.psi_by_half()["amount"]
    assert older < newer
    assert "customer_nb_tx_1d" in monitor.state().settling
    assert "amount" not in monitor.settling()


def test_a_feature_constant_over_the_whole_window_is_settling() -> None:
    """As delayed terminal counts are (all zero) while the store holds less than the label delay."""
    rng = np.random.default_rng(5)
    monitor = DriftMonitor(_rows(rng, 5000), NAMES, window=2000, min_rows=2000)
    rows = _rows(rng, 3000)
    rows[:, 2] = 0.0
    monitor.observe(rows, rng.random(3000))
    assert monitor.psi()["customer_nb_tx_1d"] > 1.0
    assert "customer_nb_tx_1d" in monitor.settling()


def _model_rows(rng: np.random.Generator, n: int, warmth: float = 1.0, amount_factor: float = 1.0) -> np.ndarray:
    """Rows like the reference of ``loaded_model`` (uniform features, amounts up to 300), its 30-day
    counts scaled by ``warmth`` (a cold store's are low) and its amounts by ``amount_factor``."""
    rows = rng.uniform(0, 1, size=(n, len(FEATURE_NAMES)))
    rows[:, 0] = rng.uniform(0, 300, n) * amount_factor
    rows[:, [FEATURE_NAMES.index("customer_nb_tx_30d"), FEATURE_NAMES.index("terminal_nb_tx_30d")]] *= warmth
    return rows


def _gauge(watch: DriftWatch, feature: str) -> float:
    value = watch.metrics.registry.get_sample_value("fraudstream_scorer_feature_psi", {"feature": feature})
    return -1.0 if value is None else value


def test_a_cold_store_warming_up_raises_no_feature_alarm_but_a_later_shift_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng, model, clock = np.random.default_rng(6), loaded_model("1"), FakeClock()
    watch = DriftWatch(ScorerMetrics(), window=2000, clock=clock)
    caplog.set_level(logging.INFO, logger="scorer.drift_watch")
    alarms, cold_psi = [], []
    for step in range(80):  # 30-day counts grow from 10% to their warm level over 6,000 rows
        alarms += watch.observe(model, _model_rows(rng, 100, warmth=min(0.1 + step / 60, 1.0)), np.zeros(100))
        cold_psi.append(_gauge(watch, "customer_nb_tx_30d"))
        clock.now += 10
    assert max(cold_psi) > 1.0  # well above the alarm level while the store was cold ...
    assert cold_psi[-1] < PSI_ALARM
    assert not alarms  # ... and yet no alarm
    assert "settling back toward the reference" in caplog.text
    assert "terminal_nb_tx_30d" in caplog.text
    for _ in range(40):  # now amounts triple
        alarms += watch.observe(model, _model_rows(rng, 100, amount_factor=3.0), np.zeros(100))
        clock.now += 10
    assert len(alarms) == 1
    assert alarms[0].startswith(f"feature PSI above {PSI_ALARM} against version 1: amount ")


def test_one_features_alarm_does_not_silence_another_features_alarm() -> None:
    rng, model, clock = np.random.default_rng(7), loaded_model("1"), FakeClock()
    watch = DriftWatch(ScorerMetrics(), window=2000, alarm_every_s=300, clock=clock)

    def feed(**shift: float) -> list[str]:
        """Two checks' worth of batches (20 of 100 rows, a second apart); the alarms raised."""
        found = []
        for _ in range(20):
            found += watch.observe(model, _model_rows(rng, 100, **shift), np.zeros(100))
            clock.now += 1
        return found

    assert not feed()
    assert [alarm.split(": ")[1].split()[0] for alarm in feed(amount_factor=3.0)] == ["amount"]
    alarms = feed(amount_factor=3.0, warmth=0.1)  # another feature shifts within the amount's 300 s
    assert len(alarms) == 1
    assert "terminal_nb_tx_30d" in alarms[0]
    assert "amount" not in alarms[0]
    clock.now += 300
    assert any("amount" in alarm for alarm in feed(amount_factor=6.0, warmth=0.1))  # still moving away


def test_calendar_flags_are_exported_but_never_alarmed_on() -> None:
    rng, model = np.random.default_rng(8), loaded_model("1")
    weekend = FEATURE_NAMES.index("is_weekend")
    watch = DriftWatch(ScorerMetrics(), window=2000)
    alarms: list[str] = []
    for step in range(40):  # a window sliding into a weekend (more weekend rows each batch), nothing else changes
        rows = _model_rows(rng, 100)
        rows[:, weekend] = (rng.random(100) < 0.5 + step / 80).astype(float)
        alarms += watch.observe(model, rows, np.zeros(100))
    assert _gauge(watch, "is_weekend") > 1.0
    assert not [alarm for alarm in alarms if "PSI" in alarm], alarms
