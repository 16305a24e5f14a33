"""Drift of the live inputs and outputs against the model's reference.

* **Features:** a population stability index per feature, over a sliding window of the last
  ``window`` scored rows, against the model's reference batch (the training sample shipped with
  every model version). Bins are the reference's deciles (distinct edges only, so a 0/1 flag gets
  two bins); empty bins count as ``epsilon`` so the index stays finite. PSI < 0.1 is usually read as
  stable, 0.1-0.25 as a moderate shift, > 0.25 as a significant one. The window's older and newer
  halves are also compared with the reference: a feature whose newer half is no farther from it than
  the older one is *settling*, moving back toward the reference rather than away from it. That is
  what a feature store warming up after a cold start looks like (its 30-day counts grow for 37 days
  of event time, PSI 7 against a warm reference when the first window fills); a shift moves away.
  The halves are in scoring order, which is event-time order for a live worker; a backlog scored
  across partitions at uneven paces mixes weeks in both halves, and the comparison means little.
* **Scores:** a river ADWIN detector fed with every score (about a microsecond per update).
* **Live fraud rate:** a river ADWIN detector fed with each label as it arrives (1 = fraud).

The window is a ring of per-row bin indices, so an update costs one ``searchsorted`` per feature
per batch and the index one ``bincount`` per feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DriftMonitor", "DriftState", "population_stability_index"]

_DECILES = np.linspace(0.1, 0.9, 9)
_EPSILON = 1e-4


def population_stability_index(expected: npt.NDArray[np.float64], actual: npt.NDArray[np.float64]) -> float:
    """PSI between two distributions over the same bins (shares; zeros are floored at a small epsilon)."""
    e = np.maximum(expected, _EPSILON)
    a = np.maximum(actual, _EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftState:
    """What the monitor says now."""

    psi: dict[str, float]
    """PSI per feature (empty until the window holds ``min_rows`` rows)."""
    score_drifts: int
    """How many times ADWIN detected a change in the score stream."""
    fraud_rate_drifts: int
    """How many times ADWIN detected a change in the live fraud rate."""
    rows: int
    """Rows in the window."""
    settling: frozenset[str] = frozenset()
    """Features whose newer half of the window is no farther from the reference than its older half."""


class DriftMonitor:
    """Sliding-window feature PSI and ADWIN detectors for one model's reference."""

    def __init__(
        self, reference: npt.NDArray[np.float64], names: Sequence[str], *, window: int = 10_000, min_rows: int = 500
    ) -> None:
        from river import drift

        if reference.ndim != 2 or reference.shape[1] != len(names):
            raise ValueError("the reference must be a matrix with one column per feature name")
        self.names = tuple(names)
        self.window = window
        self.min_rows = min_rows
        self._edges = [np.unique(np.quantile(reference[:, i], _DECILES)) for i in range(len(names))]
        self._expected = [self._shares(self._bins(i, reference[:, i]), i) for i in range(len(names))]
        self._ring = np.zeros((window, len(names)), dtype=np.int16)
        self._filled = 0
        self._next = 0
        self._scores: Any = drift.ADWIN()  # type: ignore[no-untyped-call]
        self._fraud_rate: Any = drift.ADWIN()  # type: ignore[no-untyped-call]
        self.score_drifts = 0
        self.fraud_rate_drifts = 0

    def _bins(self, column: int, values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.searchsorted(self._edges[column], values, side="right").astype(np.int64)

    def _shares(self, bins: npt.NDArray[np.int64], column: int) -> npt.NDArray[np.float64]:
        counts = np.bincount(bins, minlength=len(self._edges[column]) + 1).astype(np.float64)
        shares: npt.NDArray[np.float64] = counts / max(counts.sum(), 1.0)
        return shares

    def observe(self, matrix: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]) -> bool:
        """Add a scored batch; whether the score detector just flagged a change."""
        rows = matrix[-self.window :]
        binned = np.column_stack([self._bins(i, rows[:, i]) for i in range(len(self.names))]).astype(np.int16)
        positions = (self._next + np.arange(len(binned))) % self.window
        self._ring[positions] = binned
        self._next = int((self._next + len(binned)) % self.window)
        self._filled = min(self._filled + len(binned), self.window)
        flagged = False
        for score in np.asarray(scores, dtype=np.float64).tolist():
            self._scores.update(score)
            if self._scores.drift_detected:
                self.score_drifts += 1
                flagged = True
        return flagged

    def observe_labels(self, is_fraud: Sequence[bool]) -> bool:
        """Add labels as they arrive; whether the fraud-rate detector flagged a change."""
        flagged = False
        for fraud in is_fraud:
            self._fraud_rate.update(1.0 if fraud else 0.0)
            if self._fraud_rate.drift_detected:
                self.fraud_rate_drifts += 1
                flagged = True
        return flagged

    def psi(self) -> dict[str, float]:
        """PSI per feature over the window (empty while it holds fewer than ``min_rows`` rows)."""
        if self._filled < self.min_rows:
            return {}
        window = self._ring[: self._filled].astype(np.int64)
        return {
            name: population_stability_index(self._expected[i], self._shares(window[:, i], i))
            for i, name in enumerate(self.names)
        }

    def psi_by_half(self) -> dict[str, tuple[float, float]]:
        """PSI per feature of the window's older and newer half (empty while it holds fewer than ``min_rows`` rows)."""
        if self._filled < self.min_rows:
            return {}
        window = self._ring[: self._filled] if self._filled < self.window else np.roll(self._ring, -self._next, axis=0)
        older, newer = window[: len(window) // 2].astype(np.int64), window[len(window) // 2 :].astype(np.int64)
        return {
            name: (
                population_stability_index(self._expected[i], self._shares(older[:, i], i)),
                population_stability_index(self._expected[i], self._shares(newer[:, i], i)),
            )
            for i, name in enumerate(self.names)
        }

    def settling(self) -> frozenset[str]:
        """Features moving back toward the reference: the newer half of the window is no farther from it
        than the older half (a cold feature store warming up, a fading shift; also a feature constant in
        both halves, as delayed terminal counts are before the store holds the label delay's history)."""
        return frozenset(name for name, (older, newer) in self.psi_by_half().items() if newer <= older)

    def state(self) -> DriftState:
        """A snapshot for metrics and alarms."""
        return DriftState(self.psi(), self.score_drifts, self.fraud_rate_drifts, self._filled, self.settling())
