"""Fitting a model bundle on a feature matrix: the estimators fraudstream trains.

``boosting`` (scikit-learn HistGradientBoosting) is the trainer's default; ``forest`` is the
handbook's other tree baseline; ``logistic`` (standardised, balanced classes) is the fastest and
explains its scores exactly; ``online`` (river) learns the window's rows one by one in event order.
Each kind has default hyperparameters, chosen under the prequential protocol on the handbook's
generator (``BENCHMARKS.md``, ``python -m trainer.quality``); ``params`` overrides them (the
classifier's own names, e.g. ``class_weight`` or ``learning_rate``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fraudcore.evaluation import NotEnoughData
from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec
from fraudcore.model_kind import ModelKind
from fraudcore.models import ModelBundle, reference_sample
from fraudcore.models.online import OnlineLogisticRegression

__all__ = ["DEFAULT_PARAMS", "ModelKind", "fit_bundle", "new_estimator"]


DEFAULT_PARAMS: Final[Mapping[ModelKind, Mapping[str, Any]]] = MappingProxyType(
    {
        ModelKind.LOGISTIC: MappingProxyType({"class_weight": "balanced", "max_iter": 1000}),
        # Deeper trees than 10 levels: higher AP; class weighting lowers it.
        ModelKind.FOREST: MappingProxyType({"n_estimators": 100, "max_depth": 20, "n_jobs": 1}),
        # Early stopping's 10% validation split holds too few frauds to stop well, and up-weighting
        # frauds helps; a weight of 10 scores as well as "balanced" (~125) and keeps the scores
        # closer to probabilities, so the review threshold does not flood reviewers with alerts.
        ModelKind.BOOSTING: MappingProxyType({"max_iter": 100, "early_stopping": False, "class_weight": {0: 1, 1: 10}}),
        ModelKind.ONLINE: MappingProxyType({"learning_rate": 0.01, "l2": 0.0}),
    }
)
"""Each kind's hyperparameters (the rest are scikit-learn's defaults)."""


def new_estimator(kind: ModelKind, seed: int = 0, params: Mapping[str, Any] | None = None) -> Any:
    """An unfitted estimator of ``kind``: its defaults, ``random_state=seed``, then ``params``.

    Raises ``TypeError`` for a hyperparameter the classifier does not have.
    """
    if kind is ModelKind.ONLINE:
        return OnlineLogisticRegression(**{**DEFAULT_PARAMS[kind], **(params or {})})
    settings = {**copy.deepcopy(dict(DEFAULT_PARAMS[kind])), "random_state": seed, **(params or {})}
    if kind is ModelKind.LOGISTIC:
        return Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(**settings))])
    if kind is ModelKind.FOREST:
        return RandomForestClassifier(**settings)
    return HistGradientBoostingClassifier(**settings)


def fit_bundle(
    matrix: npt.NDArray[np.float64],
    is_fraud: npt.NDArray[np.bool_],
    *,
    kind: ModelKind = ModelKind.LOGISTIC,
    spec: FeatureSpec = DEFAULT_SPEC,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """Fit ``kind`` (its hyperparameters overridden by ``params``) on ``matrix`` (columns =
    ``spec.feature_names``) and bundle it with a reference sample of the training rows; both
    classes must be present."""
    labels = np.asarray(is_fraud, dtype=np.int64)
    if matrix.shape[0] != labels.shape[0]:
        raise ValueError(f"{matrix.shape[0]} rows but {labels.shape[0]} labels")
    if len(np.unique(labels)) != 2:
        raise NotEnoughData("the training window needs both fraud and genuine transactions")
    estimator = new_estimator(kind, seed, params).fit(matrix, labels)
    return ModelBundle(
        estimator=estimator,
        feature_names=spec.feature_names,
        feature_spec_digest=spec.digest,
        reference=reference_sample(matrix, seed=seed),
    )
