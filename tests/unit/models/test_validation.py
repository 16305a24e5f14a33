"""Validation of a loaded bundle: the feature contract and a smoke prediction on the reference batch."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from fraudcore.models import ModelLoadError, ModelLoadFailure, validate_bundle
from tests.unit.models.fitting import FEATURES, SPEC_DIGEST, bundle_of, nan_logistic

Matrix = NDArray[np.float64]


class FixedScore:
    """A classifier that answers one probability for every row, however wrong."""

    classes_ = np.array([0, 1])

    def __init__(self, score: float) -> None:
        self.score = score

    def predict_proba(self, matrix: Matrix) -> Matrix:
        return np.column_stack([np.full(len(matrix), 1.0 - self.score), np.full(len(matrix), self.score)])


class Broken:
    """A classifier that cannot score at all."""

    def predict_proba(self, matrix: Matrix) -> Matrix:
        raise RuntimeError("the model lost its trees")


def _refusal(bundle: Any, expected: tuple[str, ...] = FEATURES, spec: str | None = None) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as refused:
        validate_bundle(bundle, expected, expected_spec_digest=spec)
    return refused.value


def test_a_sound_model_passes_with_a_record_of_what_was_checked(linear_model: Any, features: Matrix) -> None:
    validation = validate_bundle(bundle_of(linear_model, features), list(FEATURES), expected_spec_digest=SPEC_DIGEST)
    assert validation.features_match
    assert validation.reference_rows == 256
    assert 0.0 <= validation.min_score < validation.max_score <= 1.0


def test_features_in_another_order_are_incompatible(linear_model: Any, features: Matrix) -> None:
    swapped = (FEATURES[1], FEATURES[0], *FEATURES[2:])
    refusal = _refusal(bundle_of(linear_model, features), swapped)
    assert refusal.reason is ModelLoadFailure.INCOMPATIBLE_FEATURES
    assert "another order: position 0 is 'amount', expected 'is_weekend'" in refusal.message


def test_other_features_or_another_spec_are_incompatible(linear_model: Any, features: Matrix) -> None:
    renamed = (*FEATURES[:-1], "terminal_risk_90d")
    refusal = _refusal(bundle_of(linear_model, features), renamed)
    assert refusal.reason is ModelLoadFailure.INCOMPATIBLE_FEATURES
    assert "missing ['terminal_risk_90d'], unexpected ['terminal_risk_30d']" in refusal.message
    refusal = _refusal(bundle_of(linear_model, features), spec="feature-spec-test-2")
    assert refusal.reason is ModelLoadFailure.INCOMPATIBLE_FEATURES
    assert "feature-spec-test-2" in refusal.message


def test_nan_scores_are_invalid(data: tuple[Matrix, Any], features: Matrix) -> None:
    refusal = _refusal(bundle_of(nan_logistic(*data), features))
    assert refusal.reason is ModelLoadFailure.INVALID_PREDICTIONS
    assert "256 of 256 reference scores are not finite" in refusal.message


@pytest.mark.parametrize("score", [1.5, -0.25])
def test_scores_outside_the_unit_interval_are_invalid(features: Matrix, score: float) -> None:
    refusal = _refusal(bundle_of(FixedScore(score), features))
    assert refusal.reason is ModelLoadFailure.INVALID_PREDICTIONS
    assert "outside [0, 1]" in refusal.message


def test_a_model_that_cannot_score_is_invalid(features: Matrix) -> None:
    refusal = _refusal(bundle_of(Broken(), features))
    assert refusal.reason is ModelLoadFailure.INVALID_PREDICTIONS
    assert "RuntimeError: the model lost its trees" in refusal.message


def test_the_error_names_its_reason_and_survives_pickling() -> None:
    error = ModelLoadError(ModelLoadFailure.NOT_FOUND, "no model")
    assert str(error) == "not_found: no model"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.message) == (ModelLoadFailure.NOT_FOUND, "no model")
