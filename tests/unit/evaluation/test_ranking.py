"""AUC ROC and Average Precision: scikit-learn's values, nan for a single class."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudcore.evaluation import auc_roc, average_precision


@pytest.mark.parametrize("seed", range(3))
def test_equal_to_scikit_learn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fraud = rng.random(5_000) < 0.05
    scores = np.round(rng.random(5_000) * 0.7 + fraud * 0.3, 2)  # informative, with ties
    assert auc_roc(fraud, scores) == pytest.approx(roc_auc_score(fraud, scores), abs=1e-12)
    assert average_precision(fraud, scores) == pytest.approx(average_precision_score(fraud, scores), abs=1e-12)


def test_accepts_integer_labels_and_lists() -> None:
    assert auc_roc([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.3]) == 1.0
    assert average_precision([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3]) == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1], []])
def test_single_class_gives_nan_without_warning(labels: list[int]) -> None:
    scores = np.linspace(0, 1, len(labels))
    assert math.isnan(auc_roc(np.array(labels, dtype=np.int64), scores))
    assert math.isnan(average_precision(np.array(labels, dtype=np.int64), scores))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_scores_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        auc_roc([0, 1], [0.5, bad])


def test_labels_other_than_0_and_1_are_rejected() -> None:
    with pytest.raises(ValueError, match="only 0 and 1"):
        average_precision([0, 2], [0.5, 0.6])
    with pytest.raises(ValueError, match="booleans or 0/1"):
        average_precision([0.0, 1.0], [0.5, 0.6])


def test_two_dimensional_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="1-D"):
        auc_roc([[0, 1]], [[0.5, 0.6]])
