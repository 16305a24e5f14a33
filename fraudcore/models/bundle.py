"""A fitted classifier with the feature contract it was trained on and a reference batch.

The estimator is anything with scikit-learn's ``predict_proba`` whose ``classes_`` are ``[0, 1]``,
fitted on a float matrix whose columns are ``feature_names`` in that order (fit on a numpy matrix, not
a DataFrame: a model that remembers column names warns on every matrix it scores). The reference batch
is a small sample of training features: loading scores it to validate a version, and drift monitoring
compares live features with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fraudcore.models.explain import NO_EXPLAINER, Explainer, ReasonMethod, build_explainer, top_reasons

__all__ = ["REFERENCE_ROWS", "ModelBundle", "reference_sample"]

REFERENCE_ROWS = 256
"""Default size of the reference batch."""


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """A fitted binary classifier, its feature names and spec digest, and a reference batch."""

    estimator: Any
    feature_names: tuple[str, ...]
    feature_spec_digest: str
    reference: NDArray[np.float64]
    _explainer: Explainer = field(init=False, repr=False, default=NO_EXPLAINER)

    def __post_init__(self) -> None:
        names = tuple(self.feature_names)
        if not names or len(set(names)) != len(names) or not all(isinstance(name, str) and name for name in names):
            raise ValueError("feature_names must be distinct non-empty strings")
        if not callable(getattr(self.estimator, "predict_proba", None)):
            raise ValueError(f"{type(self.estimator).__name__} has no predict_proba")
        _check_fitted_contract(self.estimator, names)
        reference = np.array(self.reference, dtype=np.float64, order="C", copy=True)
        if reference.ndim != 2 or reference.shape[0] == 0 or reference.shape[1] != len(names):
            raise ValueError(f"reference must be a non-empty matrix of {len(names)} columns, got {reference.shape}")
        reference.flags.writeable = False
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "reference", reference)
        object.__setattr__(self, "_explainer", build_explainer(self.estimator, names))

    @property
    def reason_method(self) -> ReasonMethod:
        """How :meth:`reasons` attributes a score (see :mod:`fraudcore.models.explain`)."""
        return self._explainer.method

    def score(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability of class 1 (fraud) per row, as float64 of shape ``(n,)``."""
        values = self._checked(matrix)
        probabilities = np.asarray(self.estimator.predict_proba(values))
        if probabilities.shape != (values.shape[0], 2):
            raise ValueError(f"predict_proba returned shape {probabilities.shape}, expected ({values.shape[0]}, 2)")
        return np.ascontiguousarray(probabilities[:, 1], dtype=np.float64)

    def contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """Per-row, per-feature contributions to the score, or None when the model cannot say.

        ``linear``: terms of the logit; ``tree_path``: terms of the probability.
        """
        explain = self._explainer.contributions
        return None if explain is None else explain(self._checked(matrix))

    def reasons(self, matrix: NDArray[np.float64], top_k: int = 3) -> list[list[str]]:
        """Per row, up to ``top_k`` feature names that pushed the score up most, largest first.

        Only positive contributions count, so a row may get fewer names; every row gets an empty list
        when the model cannot say (``reason_method == "none"``).
        """
        contributions = self.contributions(matrix)
        if contributions is None:
            return [[] for _ in range(matrix.shape[0])]
        return top_reasons(contributions, self.feature_names, top_k)

    def _checked(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        values = np.asarray(matrix, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.feature_names):
            raise ValueError(f"expected a matrix of {len(self.feature_names)} feature columns, got {values.shape}")
        return values


def reference_sample(matrix: NDArray[np.float64], rows: int = REFERENCE_ROWS, seed: int = 0) -> NDArray[np.float64]:
    """Up to ``rows`` rows of ``matrix`` drawn without replacement, in their original order."""
    values = np.asarray(matrix, dtype=np.float64)
    if values.shape[0] <= rows:
        return values.copy()
    chosen = np.sort(np.random.default_rng(seed).choice(values.shape[0], size=rows, replace=False))
    return values[chosen]


def _check_fitted_contract(estimator: Any, names: Sequence[str]) -> None:
    """Refuse estimators whose fitted attributes contradict the feature names or the binary classes."""
    if getattr(estimator, "feature_names_in_", None) is not None:
        raise ValueError(
            "the estimator was fitted on named columns (a DataFrame); fit it on a float matrix whose "
            "columns are the feature names in order"
        )
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and int(n_features) != len(names):
        raise ValueError(f"the estimator was fitted on {n_features} features, feature_names has {len(names)}")
    classes = getattr(estimator, "classes_", None)
    if classes is not None and np.asarray(classes).tolist() != [0, 1]:
        raise ValueError(f"the estimator's classes_ must be [0, 1], got {np.asarray(classes).tolist()}")
