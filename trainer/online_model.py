"""An online (river) logistic regression behind scikit-learn's ``fit``/``predict_proba``.

It learns one transaction at a time, in the order given (event order in the trainer), with a
standard scaler learned on the fly and fraud cases up-weighted by the class ratio. Where it helps:
it can keep learning from each label between retrains and it is cheap to fit on long windows; the
batch estimators (``boosting``, ``forest``) rank better on the handbook data (see BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["OnlineLogisticRegression"]


class OnlineLogisticRegression:
    """river's ``StandardScaler | LogisticRegression`` pipeline with a scikit-learn face."""

    classes_ = np.array([0, 1])

    def __init__(self, learning_rate: float = 0.01, l2: float = 0.0, seed: int = 0) -> None:
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed
        self.n_features_in_ = 0
        self._model: Any = None

    def _pipeline(self) -> Any:
        from river import linear_model, optim, preprocessing

        classifier = linear_model.LogisticRegression(optimizer=optim.SGD(self.learning_rate), l2=self.l2)
        return preprocessing.StandardScaler() | classifier

    def fit(self, matrix: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> OnlineLogisticRegression:
        """Learn the rows in order; fraud rows weighted by the genuine/fraud ratio."""
        self.n_features_in_ = matrix.shape[1]
        self._model = self._pipeline()
        frauds = int(np.sum(labels))
        weight = (len(labels) - frauds) / frauds if frauds else 1.0
        for row, label in zip(matrix.tolist(), np.asarray(labels).tolist(), strict=True):
            self.learn_one(row, bool(label), weight if label else 1.0)
        return self

    def learn_one(self, row: list[float], is_fraud: bool, weight: float = 1.0) -> None:
        """Learn one more labelled row (after ``fit``)."""
        self._model.learn_one(dict(enumerate(row)), is_fraud, w=weight)

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``[P(genuine), P(fraud)]`` per row."""
        if self._model is None:
            raise ValueError("fit the model first")
        fraud = np.array(
            [self._model.predict_proba_one(dict(enumerate(row))).get(True, 0.0) for row in np.asarray(matrix).tolist()],
            dtype=np.float64,
        )
        return np.column_stack([1.0 - fraud, fraud])
