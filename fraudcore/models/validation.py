"""The checks a model passes before it may score: feature contract and a smoke prediction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fraudcore.models.bundle import ModelBundle
from fraudcore.models.errors import ModelLoadError, ModelLoadFailure

__all__ = ["Validation", "validate_bundle"]


@dataclass(frozen=True, slots=True)
class Validation:
    """What a successful validation checked and saw."""

    features_match: bool
    reference_rows: int
    min_score: float
    max_score: float


def validate_bundle(
    bundle: ModelBundle, expected_features: Sequence[str], *, expected_spec_digest: str | None = None
) -> Validation:
    """Check the feature names and order (and spec digest, if given) and score the reference batch.

    Raises :class:`ModelLoadError` with ``INCOMPATIBLE_FEATURES`` or ``INVALID_PREDICTIONS``.
    """
    expected = tuple(expected_features)
    if bundle.feature_names != expected:
        raise ModelLoadError(
            ModelLoadFailure.INCOMPATIBLE_FEATURES, _feature_difference(bundle.feature_names, expected)
        )
    if expected_spec_digest is not None and bundle.feature_spec_digest != expected_spec_digest:
        raise ModelLoadError(
            ModelLoadFailure.INCOMPATIBLE_FEATURES,
            f"the model was trained with feature spec {bundle.feature_spec_digest}, "
            f"this code computes {expected_spec_digest}",
        )
    reference = bundle.reference
    try:
        scores = bundle.score(reference)
        bundle.reasons(reference)
    except Exception as exc:  # any failure of the model on its own reference batch refuses it
        raise ModelLoadError(
            ModelLoadFailure.INVALID_PREDICTIONS,
            f"scoring the reference batch failed: {type(exc).__name__}: {exc}",
        ) from exc
    finite = np.isfinite(scores)
    if not finite.all():
        raise ModelLoadError(
            ModelLoadFailure.INVALID_PREDICTIONS,
            f"{int((~finite).sum())} of {scores.size} reference scores are not finite",
        )
    low, high = float(scores.min()), float(scores.max())
    if low < 0.0 or high > 1.0:
        raise ModelLoadError(
            ModelLoadFailure.INVALID_PREDICTIONS, f"reference scores span [{low}, {high}], outside [0, 1]"
        )
    return Validation(features_match=True, reference_rows=int(scores.size), min_score=low, max_score=high)


def _feature_difference(actual: tuple[str, ...], expected: tuple[str, ...]) -> str:
    missing = [name for name in expected if name not in actual]
    unexpected = [name for name in actual if name not in expected]
    if not missing and not unexpected and len(actual) == len(expected):
        position = next(i for i, (a, e) in enumerate(zip(actual, expected, strict=True)) if a != e)
        return (
            f"the model has the expected features in another order: position {position} is "
            f"{actual[position]!r}, expected {expected[position]!r}"
        )
    return f"the model's features differ: missing {missing}, unexpected {unexpected}"
