"""One retrain: features from the shared definition, prequential folds, the challenger, the gate.

Windows (in days of event time, ``D`` = the feature spec's label delay): the last test day is the
day before ``clock - D`` (its labels are complete; ``clock`` is the history's stream clock, which
forged event times do not move, see :mod:`trainer.history`); each fold tests on ``test_days`` and trains on
the ``train_days`` that end ``D`` days before its test window (the handbook's prequential
protocol). Fold 0 is the most recent; its model is the challenger, and it is compared with the
current champion and with a baseline (the amount as the score) on fold 0's test window. As in the
handbook, test rows of cards already known to be compromised (a fraud of theirs since the fold's
training window began, labelled before the row's day) are left out.

Gate: with a champion, promote when the challenger's Average Precision and Card-Precision@100
both exceed the champion's by more than the margin; without one, when both exceed the baseline's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudcore.evaluation import Evaluation, Fold, evaluate, prequential_folds
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, FeatureSpec
from fraudcore.features.offline import offline_feature_matrix
from fraudcore.model_kind import ModelKind
from fraudcore.models import ModelBundle
from fraudcore.settings import Settings
from trainer.fitting import fit_bundle
from trainer.history import Snapshot

__all__ = ["Dataset", "FoldResult", "TrainingConfig", "TrainingOutcome", "build_dataset", "train_and_evaluate"]

_K = 100
_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class TrainingConfig:
    """How the trainer fits and judges a challenger."""

    kind: ModelKind = ModelKind.BOOSTING
    train_days: int = 14
    test_days: int = 7
    folds: int = 2
    margin: float = 0.0
    threshold: float = 0.5
    seed: int = 0
    spec: FeatureSpec = DEFAULT_SPEC
    params: Mapping[str, Any] | None = None
    """Hyperparameters overriding the kind's defaults (see :func:`~trainer.fitting.fit_bundle`)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainingConfig:
        """The configuration the settings describe."""
        return cls(
            kind=ModelKind(settings.trainer_model_kind),
            train_days=settings.trainer_train_days,
            test_days=settings.trainer_test_days,
            folds=settings.trainer_folds,
            margin=settings.promotion_margin,
            threshold=settings.review_threshold,
        )

    @property
    def horizon_days(self) -> int:
        """Days of history a retrain needs: the folds' windows plus the features' look-back."""
        delay = self.spec.label_delay_days
        windows = self.train_days + delay + self.test_days * self.folds + delay + 1
        return windows + max(self.spec.customer_windows_days[-1], self.spec.terminal_windows_days[-1] + delay)


@dataclass(frozen=True)
class Dataset:
    """Features and labels of every transaction of a snapshot (rows in event-time order)."""

    matrix: npt.NDArray[np.float64]
    labelled: npt.NDArray[np.bool_]
    """Rows whose label was known at the snapshot's clock."""
    is_fraud: npt.NDArray[np.bool_]
    day: npt.NDArray[np.int64]
    customer: npt.NDArray[np.int64]
    """Customer codes (equal card, equal code; small non-negative integers)."""
    scenario: npt.NDArray[np.int8]
    amount: npt.NDArray[np.float64]
    labeled_at_ms: npt.NDArray[np.int64]
    """When each row's label became known (``_NEVER`` when it has none)."""
    clock_ms: int

    def known_compromised(self, since_day: int | None = None) -> npt.NDArray[np.bool_]:
        """Rows of cards already known to be compromised when their day began: a fraud of theirs,
        on ``since_day`` or later (``None``: any day held), was labelled before. The handbook leaves
        them out of test sets from the fold's first training day on; an investigator already holds them."""
        fraud = self.labelled & self.is_fraud
        if since_day is not None:
            fraud &= self.day >= since_day
        if not len(self.customer):
            return np.zeros(0, dtype=np.bool_)
        first_known = np.full(int(self.customer.max()) + 1, _NEVER, dtype=np.int64)
        np.minimum.at(first_known, self.customer[fraud], self.labeled_at_ms[fraud])
        return first_known[self.customer] < self.day * DAY_MS

    def testable(self, fold: Fold) -> npt.NDArray[np.bool_]:
        """A fold's test rows: labelled, in its test window, cards not known to be compromised since
        its training window began (the handbook's rule)."""
        return fold.test & self.labelled & ~self.known_compromised(since_day=fold.train_first_day)


def build_dataset(snapshot: Snapshot, spec: FeatureSpec = DEFAULT_SPEC) -> Dataset:
    """Offline features (the scorer's definition, replayed in event-time order) and labels."""
    fraud_labeled_at = np.where(snapshot.is_fraud, snapshot.labeled_at_ms, _NEVER)
    customer = snapshot.customer.astype(np.int64)
    matrix = offline_feature_matrix(
        snapshot.event_time_ms,
        snapshot.amount_cents,
        customer,
        snapshot.terminal.astype(np.int64),
        fraud_labeled_at,
        spec,
    )
    labelled = snapshot.labeled_at_ms <= snapshot.clock_ms
    return Dataset(
        matrix=matrix,
        labelled=labelled,
        is_fraud=labelled & snapshot.is_fraud,
        day=snapshot.event_time_ms // DAY_MS,
        customer=customer,
        scenario=snapshot.scenarios,
        amount=snapshot.amount_cents / 100,
        labeled_at_ms=np.where(labelled, snapshot.labeled_at_ms, _NEVER),
        clock_ms=snapshot.clock_ms,
    )


@dataclass(frozen=True)
class FoldResult:
    """One fold's window and the three scorers' evaluations on its test rows."""

    fold: Fold
    challenger: Evaluation
    champion: Evaluation | None
    baseline: Evaluation


@dataclass(frozen=True)
class TrainingOutcome:
    """The challenger, how it fared, and whether the gate promotes it."""

    bundle: ModelBundle
    folds: list[FoldResult]
    promote: bool
    reason: str
    train_rows: int
    test_labels: npt.NDArray[np.bool_]
    """Fold 0's test labels, and each scorer's scores on them (for the PR curves)."""
    test_scores: dict[str, npt.NDArray[np.float64]]

    def metrics(self) -> dict[str, float]:
        """Flat metrics for MLflow: fold 0 per scorer, and the challenger's mean over folds."""
        recent = self.folds[0]
        metrics: dict[str, float] = {}
        for role, evaluation in (
            ("challenger", recent.challenger),
            ("champion", recent.champion),
            ("baseline", recent.baseline),
        ):
            if evaluation is not None:
                metrics |= {f"{role}_{name}": value for name, value in evaluation.headline().items()}
        for name in recent.challenger.headline():
            values = [fold.challenger.headline()[name] for fold in self.folds]
            metrics[f"mean_{name}"] = float(np.nanmean(values)) if not all(np.isnan(values)) else float("nan")
        metrics["train_rows"] = float(self.train_rows)
        return metrics

    def params(self) -> dict[str, Any]:
        """Window bounds (day indices) and sizes for MLflow."""
        fold = self.folds[0].fold
        return {
            "train_first_day": fold.train_first_day,
            "train_last_day": fold.train_last_day,
            "test_first_day": fold.test_first_day,
            "test_last_day": fold.test_last_day,
            "folds": len(self.folds),
        }


def _evaluate(
    data: Dataset, rows: npt.NDArray[np.bool_], scores: npt.NDArray[np.float64], threshold: float
) -> Evaluation:
    return evaluate(
        data.is_fraud[rows],
        scores,
        day=data.day[rows],
        customer=data.customer[rows],
        scenario=data.scenario[rows] if (data.scenario[rows] >= 0).all() else None,
        amounts=data.amount[rows],
        threshold=threshold,
        k=_K,
    )


def train_and_evaluate(data: Dataset, config: TrainingConfig, champion: ModelBundle | None) -> TrainingOutcome:
    """Fit one model per prequential fold, evaluate them, and apply the promotion gate."""
    labelled = data.labelled
    delay = config.spec.label_delay_days
    last_test_day = int(data.clock_ms // DAY_MS) - delay - 1
    folds = prequential_folds(
        data.day,
        train_days=config.train_days,
        delay_days=delay,
        test_days=config.test_days,
        n_folds=config.folds,
        last_test_day=last_test_day,
    )
    results: list[FoldResult] = []
    challenger: ModelBundle | None = None
    train_rows = 0
    curves: dict[str, npt.NDArray[np.float64]] = {}
    for fold in folds:
        train, test = fold.train & labelled, data.testable(fold)
        bundle = fit_bundle(
            data.matrix[train],
            data.is_fraud[train],
            kind=config.kind,
            spec=config.spec,
            seed=config.seed,
            params=config.params,
        )
        if challenger is None:
            challenger, train_rows = bundle, int(train.sum())
        matrix = data.matrix[test]
        if not curves:
            curves = {"challenger": bundle.score(matrix), "baseline": data.amount[test]}
            if champion is not None:
                curves["champion"] = champion.score(matrix)
        results.append(
            FoldResult(
                fold=fold,
                challenger=_evaluate(data, test, bundle.score(matrix), config.threshold),
                champion=None if champion is None else _evaluate(data, test, champion.score(matrix), config.threshold),
                baseline=_evaluate(data, test, data.amount[test], config.threshold),
            )
        )
    assert challenger is not None
    promote, reason = _gate(results[0], config.margin)
    recent_test = data.testable(folds[0])
    return TrainingOutcome(challenger, results, promote, reason, train_rows, data.is_fraud[recent_test], curves)


def _gate(recent: FoldResult, margin: float) -> tuple[bool, str]:
    new = recent.challenger
    old, against = (recent.champion, "champion") if recent.champion is not None else (recent.baseline, "baseline")
    ap_gain = new.average_precision - old.average_precision
    cp_gain = new.card_precision.mean - old.card_precision.mean
    verdict = ap_gain > margin and cp_gain > margin
    summary = (
        f"AP {new.average_precision:.4f} vs {against} {old.average_precision:.4f} ({ap_gain:+.4f}), "
        f"CP@{_K} {new.card_precision.mean:.4f} vs {old.card_precision.mean:.4f} ({cp_gain:+.4f}), margin {margin}"
    )
    return verdict, ("promote: " if verdict else "keep the champion: ") + summary
