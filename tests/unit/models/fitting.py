"""Small fitted models on synthetic data, shared by the model tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fraudcore.features.definition import FEATURE_NAMES
from fraudcore.models import ModelBundle, reference_sample

FEATURES = FEATURE_NAMES
SPEC_DIGEST = "feature-spec-test-1"
AMOUNT, IS_NIGHT, TERMINAL_RISK_7D = 0, 2, 12

Matrix = NDArray[np.float64]


def training_data(rows: int = 2_000, seed: int = 0) -> tuple[Matrix, NDArray[np.int64]]:
    """Features whose fraud label depends on the amount, the night flag and the terminal's risk."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, len(FEATURES)))
    features[:, 1] = rng.integers(0, 2, rows)
    features[:, IS_NIGHT] = rng.integers(0, 2, rows)
    logit = 1.5 * features[:, AMOUNT] + 1.0 * features[:, IS_NIGHT] + 2.0 * features[:, TERMINAL_RISK_7D] - 2.0
    labels = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return features, labels


def logistic(features: Matrix, labels: NDArray[np.int64]) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels)


def forest(features: Matrix, labels: NDArray[np.int64], trees: int = 20) -> Any:
    return RandomForestClassifier(n_estimators=trees, max_depth=6, random_state=0).fit(features, labels)


def boosting(features: Matrix, labels: NDArray[np.int64]) -> Any:
    return HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(features, labels)


def nan_logistic(features: Matrix, labels: NDArray[np.int64]) -> Any:
    """A logistic regression whose coefficients were damaged: every score is NaN."""
    model = logistic(features, labels)
    model[-1].coef_[:] = np.nan
    return model


def bundle_of(estimator: Any, features: Matrix, names: tuple[str, ...] = FEATURES) -> ModelBundle:
    return ModelBundle(
        estimator=estimator,
        feature_names=names,
        feature_spec_digest=SPEC_DIGEST,
        reference=reference_sample(features),
    )
