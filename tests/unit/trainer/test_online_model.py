"""The river online model: learns in order, scores like a scikit-learn classifier, fits in a bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fraudcore.models import ModelBundle, save_bundle
from fraudcore.models.artifact import parse_bundle, read_artifact
from fraudcore.models.online import OnlineLogisticRegression


def _data(rows: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(rows, 4))
    return matrix, (matrix[:, 0] + 0.3 * rng.normal(size=rows) > 1.2).astype(np.int64)


def test_it_learns_a_separable_signal_and_keeps_learning() -> None:
    matrix, labels = _data()
    model = OnlineLogisticRegression().fit(matrix, labels)
    fraud = model.predict_proba(matrix)[:, 1]
    assert fraud.shape == (len(matrix),)
    assert ((fraud >= 0) & (fraud <= 1)).all()
    assert fraud[labels == 1].mean() > fraud[labels == 0].mean() + 0.3
    before = model.predict_proba(matrix[:1])[0, 1]
    for _ in range(50):
        model.learn_one(matrix[0].tolist(), is_fraud=not labels[0])
    assert model.predict_proba(matrix[:1])[0, 1] != before


def test_it_travels_in_the_pickle_free_format_as_plain_numbers(tmp_path: Path) -> None:
    matrix, labels = _data(500)
    bundle = ModelBundle(OnlineLogisticRegression().fit(matrix, labels), ("a", "b", "c", "d"), "spec", matrix[:50])
    save_bundle(bundle, tmp_path / "model")
    loaded = parse_bundle(read_artifact(tmp_path / "model"))
    assert np.array_equal(loaded.score(matrix[:20]), bundle.score(matrix[:20]))
    state = loaded.estimator.__getstate__()
    assert all(isinstance(value, (int, float, np.ndarray)) for value in state.values()), state
    with pytest.raises(ValueError, match="only a model fitted in this process keeps learning"):
        loaded.estimator.learn_one(matrix[0].tolist(), is_fraud=True)


def test_its_scores_are_rivers(tmp_path: Path) -> None:
    matrix, labels = _data(500)
    model = OnlineLogisticRegression().fit(matrix, labels)
    river = [model._model.predict_proba_one(dict(enumerate(row))).get(True, 0.0) for row in matrix.tolist()]
    np.testing.assert_allclose(model.predict_proba(matrix)[:, 1], river, rtol=0, atol=1e-12)
