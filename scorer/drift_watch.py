"""Drift monitoring wired to the served model: metrics, and rate-limited alarms for model-events."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from fraudcore.models import LoadedModel
from scorer.drift import DriftMonitor
from scorer.metrics import ScorerMetrics

__all__ = ["DriftWatch"]

log = logging.getLogger(__name__)

PSI_ALARM = 0.25
"""A feature whose PSI exceeds this raises a drift alarm (a significant shift)."""

CALENDAR_FEATURES = frozenset({"is_weekend", "is_night"})
"""Exported but never alarmed on: their share follows which hours and weekdays the window spans (a
10,000-row window can be a few hours of a busy stream), not a change in the population."""


class DriftWatch:
    """Keeps a :class:`DriftMonitor` on the champion's reference (a new one after each swap),
    exports the signals and says when to raise an alarm: at most once per ``alarm_every_s`` for
    the score and the fraud rate, and for each feature on its own (one feature's alarm does not
    silence another's). A feature above :data:`PSI_ALARM` that is settling back toward the reference
    (a feature store warming up after a cold start) is logged, not alarmed."""

    def __init__(
        self,
        metrics: ScorerMetrics,
        *,
        window: int = 10_000,
        alarm_every_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.window = window
        self.alarm_every_s = alarm_every_s
        self.clock = clock
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
            alarms += self._feature_alarms(self._monitor, model.version)
        return alarms

    def observe_labels(self, is_fraud: list[bool]) -> list[str]:
        """Add labels as they arrive; the alarms to raise now."""
        if self._monitor is None or not is_fraud:
            return []
        if self._monitor.observe_labels(is_fraud):
            self.metrics.drift_detections.labels("fraud_rate").inc()
            return self._alarm("fraud_rate", "the live fraud rate changed (ADWIN on arriving labels)")
        return []

    def _feature_alarms(self, monitor: DriftMonitor, version: str) -> list[str]:
        psi = monitor.psi()
        for feature, value in psi.items():
            self.metrics.feature_psi.labels(feature).set(value)
        above = {f: value for f, value in psi.items() if value > PSI_ALARM and f not in CALENDAR_FEATURES}
        if not above:
            return []
        settling = monitor.settling() & above.keys()
        if settling and self._due("settling"):
            log.info(
                "feature PSI above %s against version %s but settling back toward the reference (a feature store "
                "warming up?), no alarm: %s",
                PSI_ALARM,
                version,
                _listed({feature: above[feature] for feature in settling}),
            )
        shifted = {f: v for f, v in above.items() if f not in settling and self._due(f"feature {f}")}
        if not shifted:
            return []
        return [f"feature PSI above {PSI_ALARM} against version {version}: {_listed(shifted)}"]

    def _alarm(self, signal: str, message: str) -> list[str]:
        return [message] if self._due(signal) else []

    def _due(self, key: str) -> bool:
        """Whether ``key`` may speak now (then it may not again for ``alarm_every_s``)."""
        now = self.clock()
        if now - self._last_alarm.get(key, -math.inf) < self.alarm_every_s:
            return False
        self._last_alarm[key] = now
        return True


def _listed(psi: dict[str, float]) -> str:
    """``amount 0.61, customer_avg_amount_1d 0.40``: largest first."""
    return ", ".join(f"{feature} {value:.2f}" for feature, value in sorted(psi.items(), key=lambda item: -item[1]))
