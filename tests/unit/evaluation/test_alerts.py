"""Recall per fraud scenario and the threshold report, on hand-made arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fraudcore.evaluation import recall_by_scenario, threshold_report

IS_FRAUD = np.array([1, 1, 1, 0, 0, 0])
SCORES = np.array([0.9, 0.5, 0.2, 0.7, 0.1, 0.5])  # at 0.5, rows 0, 1, 3 and 5 are alerted
DAY = np.array([0, 0, 1, 1, 3, 3])


def test_recall_by_scenario() -> None:
    scenario = np.array([0, 0, 1, 1, 1, 2, 3, 3])
    alerted = np.array([True, False, True, False, False, True, False, False])
    assert recall_by_scenario(scenario, alerted) == {1: pytest.approx(1 / 3), 2: 1.0, 3: 0.0}
    assert list(recall_by_scenario(scenario[::-1], alerted[::-1])) == [1, 2, 3]


def test_recall_by_scenario_without_fraud_is_empty() -> None:
    assert recall_by_scenario(np.array([0, 0]), np.array([True, False])) == {}


def test_threshold_report_counts_and_rates() -> None:
    report = threshold_report(IS_FRAUD, SCORES, 0.5)
    assert (report.transactions, report.frauds, report.alerts, report.frauds_alerted) == (6, 3, 4, 2)
    assert report.precision == 0.5
    assert report.recall == pytest.approx(2 / 3)
    assert report.alerts_per_day is None
    assert report.alerts_per_day_mean is None
    assert report.fraud_amount_caught is None
    assert report.fraud_amount_missed is None


def test_threshold_report_money_at_stake() -> None:
    cents = np.array([10_000, 2_000, 3_000, 500, 100, 200])
    report = threshold_report(IS_FRAUD, SCORES, 0.5, amounts=cents)
    assert (report.fraud_amount_caught, report.fraud_amount_missed) == (12_000, 3_000)
    assert isinstance(report.fraud_amount_caught, int)
    floats = threshold_report(IS_FRAUD, SCORES, 0.5, amounts=cents / 100)
    assert (floats.fraud_amount_caught, floats.fraud_amount_missed) == (120.0, 30.0)
    assert isinstance(floats.fraud_amount_caught, float)


def test_threshold_report_alerts_per_day() -> None:
    report = threshold_report(IS_FRAUD, SCORES, 0.5, day=DAY)
    assert report.alerts_per_day == ((0, 2), (1, 1), (3, 1))
    assert report.alerts_per_day_mean == pytest.approx(4 / 3)
    quiet = threshold_report(IS_FRAUD, SCORES, 0.95, day=DAY)
    assert quiet.alerts_per_day == ((0, 0), (1, 0), (3, 0))
    assert quiet.alerts_per_day_mean == 0.0


def test_undefined_rates_are_nan() -> None:
    assert math.isnan(threshold_report(IS_FRAUD, SCORES, 0.95).precision)
    assert math.isnan(threshold_report(np.zeros(6, dtype=np.int64), SCORES, 0.5).recall)


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        threshold_report(IS_FRAUD, SCORES, 0.5, day=DAY[:3])
    with pytest.raises(ValueError, match="same length"):
        recall_by_scenario(np.array([1, 2]), np.array([True]))
