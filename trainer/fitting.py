"""Fitting a model bundle on a feature matrix: the estimators fraudstream trains.

``logistic`` (standardised logistic regression, balanced classes) is the fast default and explains
its scores exactly; ``forest`` and ``boosting`` are the handbook's stronger tree baselines.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec
from fraudcore.models import ModelBundle, reference_sample

__all__ = ["ModelKind", "fit_bundle"]


class ModelKind(StrEnum):
    """The estimators the trainer can fit."""

    LOGISTIC = "logistic"
    FOREST = "forest"
    BOOSTING = "boosting"


def _estimator(kind: ModelKind, seed: int) -> Any:
    if kind is ModelKind.LOGISTIC:
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("classify", LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed)),
            ]
        )
    if kind is ModelKind.FOREST:
        return RandomForestClassifier(n_estimators=100, max_depth=10, n_jobs=1, random_state=seed)
    return HistGradientBoostingClassifier(max_iter=100, random_state=seed)


def fit_bundle(
    matrix: npt.NDArray[np.float64],
    is_fraud: npt.NDArray[np.bool_],
    *,
    kind: ModelKind = ModelKind.LOGISTIC,
    spec: FeatureSpec = DEFAULT_SPEC,
    seed: int = 0,
) -> ModelBundle:
    """Fit ``kind`` on ``matrix`` (columns = ``spec.feature_names``) and bundle it with a reference
    sample of the training rows; both classes must be present."""
    labels = np.asarray(is_fraud, dtype=np.int64)
    if matrix.shape[0] != labels.shape[0]:
        raise ValueError(f"{matrix.shape[0]} rows but {labels.shape[0]} labels")
    if len(np.unique(labels)) != 2:
        raise ValueError("the training window needs both fraud and genuine transactions")
    estimator = _estimator(kind, seed).fit(matrix, labels)
    return ModelBundle(
        estimator=estimator,
        feature_names=spec.feature_names,
        feature_spec_digest=spec.digest,
        reference=reference_sample(matrix, seed=seed),
    )
