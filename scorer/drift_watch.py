"""Drift monitoring wired to the served model: metrics, and rate-limited alarms for model-events."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from fraudcore.models import LoadedModel
from scorer.drift import DriftMonitor
from scorer.metrics import ScorerMetrics

__all__ = ["DriftWatch"]

PSI_ALARM = 0.25
"""A feature whose PSI exceeds this raises a drift alarm (a significant shift)."""


class DriftWatch:
    """Keeps a :class:`DriftMonitor` on the champion's reference (a new one after each swap),
    exports the signals and says when to raise an alarm (at most once per ``alarm_every_s`` each)."""

    def __init__(self, metrics: ScorerMetrics, *, window: int = 10_000, alarm_every_s: float = 300.0) -> None:
        self.metrics = metrics
        self.window = window
        self.alarm_every_s = alarm_every_s
        self._monitor: DriftMonitor | None = None
        self._version: str | None = None
        self._last_alarm: dict[str, float] = {}
        self._batches = 0

    def observe(
        self, model: LoadedModel, matrix: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]
    ) -> list[str]:
        """Add a scored batch; the alarms to raise now (human-readable)."""
        if self._monitor is None or self._version != model.version:
            self._monitor = DriftMonitor(  # PSI only over a full window: a few hours are not a population
                np.asarray(model.bundle.reference), model.bundle.feature_names, window=self.window, min_rows=self.window
            )
            self._version = model.version
        alarms = []
        if self._monitor.observe(matrix, scores):
            self.metrics.drift_detections.labels("score").inc()
            alarms += self._alarm("score", f"the score distribution of version {model.version} changed (ADWIN)")
        self._batches += 1
        if self._batches % 10 == 0:
            psi = self._monitor.psi()
            for feature, value in psi.items():
                self.metrics.feature_psi.labels(feature).set(value)
            shifted = sorted((value, feature) for feature, value in psi.items() if value > PSI_ALARM)
            if shifted:
                names = ", ".join(f"{feature} {value:.2f}" for value, feature in reversed(shifted))
                alarms += self._alarm(
                    "features", f"feature PSI above {PSI_ALARM} against version {model.version}: {names}"
                )
        return alarms

    def observe_labels(self, is_fraud: list[bool]) -> list[str]:
        """Add labels as they arrive; the alarms to raise now."""
        if self._monitor is None or not is_fraud:
            return []
        if self._monitor.observe_labels(is_fraud):
            self.metrics.drift_detections.labels("fraud_rate").inc()
            return self._alarm("fraud_rate", "the live fraud rate changed (ADWIN on arriving labels)")
        return []

    def _alarm(self, signal: str, message: str) -> list[str]:
        now = time.monotonic()
        if now - self._last_alarm.get(signal, -self.alarm_every_s) < self.alarm_every_s:
            return []
        self._last_alarm[signal] = now
        return [message]
