"""From scores to decisions and risk levels, with the configured thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fraudcore.settings import Settings
from schemas.enums import Decision, RiskLevel

__all__ = ["Thresholds"]

_DECISIONS = (Decision.APPROVE, Decision.REVIEW, Decision.DECLINE)
_RISK_LEVELS = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)


@dataclass(frozen=True)
class Thresholds:
    """Score cut-offs; a score equal to a threshold falls in the higher class."""

    review: float = 0.5
    decline: float = 0.9
    risk_medium: float = 0.2
    risk_high: float = 0.6

    def __post_init__(self) -> None:
        if not 0 <= self.review <= self.decline <= 1 or not 0 <= self.risk_medium <= self.risk_high <= 1:
            raise ValueError("thresholds must lie in [0, 1] with review <= decline and medium <= high")

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds the settings configure."""
        return cls(
            review=settings.review_threshold,
            decline=settings.decline_threshold,
            risk_medium=settings.risk_medium_threshold,
            risk_high=settings.risk_high_threshold,
        )

    def decisions(self, scores: npt.NDArray[np.float64]) -> list[Decision]:
        """The decision for each score."""
        classes = np.searchsorted(np.array([self.review, self.decline]), scores, side="right")
        return [_DECISIONS[i] for i in classes.tolist()]

    def risk_levels(self, scores: npt.NDArray[np.float64]) -> list[RiskLevel]:
        """The risk level for each score."""
        classes = np.searchsorted(np.array([self.risk_medium, self.risk_high]), scores, side="right")
        return [_RISK_LEVELS[i] for i in classes.tolist()]
