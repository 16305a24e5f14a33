"""ModelBundle: scoring, the fitted-model contract, and reasons for linear and tree models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from fraudcore.models import ModelBundle, reference_sample
from tests.unit.models.fitting import AMOUNT, FEATURES, IS_NIGHT, SPEC_DIGEST, TERMINAL_RISK_7D, bundle_of

Matrix = NDArray[np.float64]


@pytest.mark.parametrize("model_fixture", ["linear_model", "forest_model", "boosting_model"])
def test_score_is_the_class_one_probability(
    request: pytest.FixtureRequest, model_fixture: str, features: Matrix
) -> None:
    model = request.getfixturevalue(model_fixture)
    scores = bundle_of(model, features).score(features[:100])
    assert scores.shape == (100,)
    assert scores.dtype == np.float64
    assert scores.flags.c_contiguous
    np.testing.assert_array_equal(scores, model.predict_proba(features[:100])[:, 1])


def test_score_refuses_a_matrix_of_other_width(linear_model: Any, features: Matrix) -> None:
    with pytest.raises(ValueError, match="15 feature columns"):
        bundle_of(linear_model, features).score(features[:, :14])


def test_reference_is_a_read_only_float64_copy(linear_model: Any, features: Matrix) -> None:
    source = features[:10].copy()
    bundle = ModelBundle(linear_model, FEATURES, SPEC_DIGEST, source)
    source[0, 0] = 1e9
    assert bundle.reference[0, 0] != 1e9
    assert bundle.reference.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        bundle.reference[0, 0] = 0.0


def test_reference_sample_is_deterministic_and_keeps_row_order(features: Matrix) -> None:
    sample = reference_sample(features, rows=50, seed=3)
    np.testing.assert_array_equal(sample, reference_sample(features, rows=50, seed=3))
    rows = [int(np.flatnonzero((features == row).all(axis=1))[0]) for row in sample]
    assert len(rows) == 50
    assert rows == sorted(rows)
    assert reference_sample(features[:10], rows=50).shape == (10, len(FEATURES))


def test_the_contract_of_a_fitted_model_is_checked(linear_model: Any, features: Matrix) -> None:
    with pytest.raises(ValueError, match="distinct"):
        ModelBundle(linear_model, (*FEATURES[:-1], FEATURES[0]), SPEC_DIGEST, features[:5])
    with pytest.raises(ValueError, match="fitted on 15 features"):
        ModelBundle(linear_model, FEATURES[:-1], SPEC_DIGEST, features[:5, :-1])
    with pytest.raises(ValueError, match="reference must be"):
        ModelBundle(linear_model, FEATURES, SPEC_DIGEST, features[:5, :-1])
    with pytest.raises(ValueError, match="reference must be"):
        ModelBundle(linear_model, FEATURES, SPEC_DIGEST, features[:0])
    with pytest.raises(ValueError, match="no predict_proba"):
        ModelBundle(object(), FEATURES, SPEC_DIGEST, features[:5])
    three_classes = LogisticRegression().fit(features, np.arange(features.shape[0]) % 3)
    with pytest.raises(ValueError, match=r"classes_ must be \[0, 1\]"):
        ModelBundle(three_classes, FEATURES, SPEC_DIGEST, features[:5])
    named = LogisticRegression().fit(features, np.arange(features.shape[0]) % 2)
    named.feature_names_in_ = np.asarray(FEATURES, dtype=object)
    with pytest.raises(ValueError, match="named columns"):
        ModelBundle(named, FEATURES, SPEC_DIGEST, features[:5])


def test_linear_contributions_are_the_terms_of_the_logit(linear_model: Any, features: Matrix) -> None:
    bundle = bundle_of(linear_model, features)
    assert bundle.reason_method == "linear"
    contributions = bundle.contributions(features[:200])
    assert contributions is not None
    assert contributions.shape == (200, len(FEATURES))
    logit = linear_model.decision_function(features[:200])
    np.testing.assert_allclose(contributions.sum(axis=1) + linear_model[-1].intercept_[0], logit, rtol=1e-10)


def test_linear_reasons_name_the_features_that_pushed_the_score_up(linear_model: Any, features: Matrix) -> None:
    bundle = bundle_of(linear_model, features)
    rows = np.zeros((3, len(FEATURES)))
    rows[:] = linear_model[0].mean_  # every standardized value 0: no contribution at all
    rows[0, AMOUNT] += 3 * linear_model[0].scale_[AMOUNT]
    rows[0, TERMINAL_RISK_7D] += 3 * linear_model[0].scale_[TERMINAL_RISK_7D]
    rows[1, IS_NIGHT] += 2 * linear_model[0].scale_[IS_NIGHT]
    rows[1, AMOUNT] -= 3 * linear_model[0].scale_[AMOUNT]
    reasons = bundle.reasons(rows)
    assert reasons[0][:2] == ["terminal_risk_7d", "amount"]  # coefficient 2.0 beats 1.5 at the same z
    assert reasons[1] == ["is_night"]  # a low amount pulled the score down: not a reason
    assert reasons[2] == []
    assert bundle.reasons(rows, top_k=1)[0] == ["terminal_risk_7d"]
    assert bundle.reasons(rows, top_k=0) == [[], [], []]


def test_a_bare_logistic_regression_is_explained_too(features: Matrix, data: tuple[Matrix, Any]) -> None:
    bundle = bundle_of(LogisticRegression().fit(*data), features)
    assert bundle.reason_method == "linear"
    high = features[:1].copy()
    high[0, :] = 0.0
    high[0, TERMINAL_RISK_7D] = 5.0
    assert bundle.reasons(high)[0][0] == "terminal_risk_7d"


def test_a_pipeline_that_mixes_features_gets_no_reasons(data: tuple[Matrix, Any], features: Matrix) -> None:
    mixed = make_pipeline(PCA(n_components=len(FEATURES)), LogisticRegression()).fit(*data)
    bundle = bundle_of(mixed, features)
    assert bundle.reason_method == "none"
    assert bundle.contributions(features[:4]) is None
    assert bundle.reasons(features[:4]) == [[], [], [], []]


@pytest.mark.parametrize("kind", ["forest", "single_tree", "scaled_extra_trees"])
def test_tree_path_contributions_add_up_to_the_probability(
    forest_model: Any, data: tuple[Matrix, Any], features: Matrix, kind: str
) -> None:
    if kind == "forest":
        model, trees = forest_model, forest_model.estimators_
    elif kind == "single_tree":
        model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(*data)
        trees = [model]
    else:
        model = make_pipeline(StandardScaler(), ExtraTreesClassifier(n_estimators=5, random_state=0)).fit(*data)
        trees = model[-1].estimators_
    bundle = bundle_of(model, features)
    assert bundle.reason_method == "tree_path"
    contributions = bundle.contributions(features[:300])
    assert contributions is not None
    base_rate = np.mean([tree.tree_.value[0, 0, 1] for tree in trees])
    np.testing.assert_allclose(base_rate + contributions.sum(axis=1), bundle.score(features[:300]), atol=1e-6)


def test_tree_path_reasons_find_the_risky_features(forest_model: Any, features: Matrix) -> None:
    bundle = bundle_of(forest_model, features)
    risky = np.zeros((2, len(FEATURES)))
    risky[0, [AMOUNT, TERMINAL_RISK_7D]] = 3.0
    risky[0, IS_NIGHT] = 1.0
    reasons = bundle.reasons(risky)
    assert set(reasons[0]) == {"amount", "is_night", "terminal_risk_7d"}
    assert all(name in FEATURES for name in reasons[1])


def test_histogram_boosting_gives_no_reasons_rather_than_guesses(boosting_model: Any, features: Matrix) -> None:
    bundle = bundle_of(boosting_model, features)
    assert bundle.reason_method == "none"
    assert bundle.reasons(features[:1000]) == [[] for _ in range(1000)]
