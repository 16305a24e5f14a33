"""Scores become decisions and risk levels at the configured thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from fraudcore.settings import Settings
from schemas.enums import Decision, RiskLevel
from scorer.decisions import Thresholds


def test_a_score_at_a_threshold_falls_in_the_higher_class() -> None:
    thresholds = Thresholds(review=0.5, decline=0.9, risk_medium=0.2, risk_high=0.6)
    scores = np.array([0.0, 0.2, 0.49, 0.5, 0.6, 0.89, 0.9, 1.0])
    assert thresholds.decisions(scores) == [Decision.APPROVE] * 3 + [Decision.REVIEW] * 3 + [Decision.DECLINE] * 2
    assert thresholds.risk_levels(scores) == [RiskLevel.LOW] + [RiskLevel.MEDIUM] * 3 + [RiskLevel.HIGH] * 4


def test_thresholds_come_from_the_settings() -> None:
    settings = Settings(review_threshold=0.3, decline_threshold=0.8, risk_medium_threshold=0.1, risk_high_threshold=0.7)
    assert Thresholds.from_settings(settings) == Thresholds(0.3, 0.8, 0.1, 0.7)


@pytest.mark.parametrize(("review", "decline"), [(0.9, 0.5), (-0.1, 0.5), (0.5, 1.5)])
def test_inconsistent_thresholds_are_refused(review: float, decline: float) -> None:
    with pytest.raises(ValueError, match="thresholds must lie in"):
        Thresholds(review=review, decline=decline)
