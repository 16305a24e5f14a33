"""Drift signals stay low on a stationary stream and rise when the stream shifts."""

from __future__ import annotations

import numpy as np
import pytest

from scorer.drift import DriftMonitor, population_stability_index

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
