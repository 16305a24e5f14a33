"""An online (river) logistic regression behind scikit-learn's ``fit``/``predict_proba``.

It learns one transaction at a time, in the order given (event order in the trainer), with a
standard scaler learned on the fly and fraud cases up-weighted by the class ratio. Where it helps:
it can keep learning from each label between retrains and it is cheap to fit on long windows; the
batch estimators (``boosting``, ``forest``) rank better on the handbook data (see BENCHMARKS.md).

Scores come from the learned state held as plain numbers (the scaler's counts, means and
variances, the weights and the intercept), computed as river does; that state is all a saved model
holds (``__getstate__``), so it travels in the pickle-free skops format and a loaded model scores
without river. Only a model fitted in this process keeps learning (``learn_one``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["OnlineLogisticRegression"]

_LOGIT_BOUND = 30.0
"""river's sigmoid: 0 below -30, 1 above 30."""


class OnlineLogisticRegression:
    """river's ``StandardScaler | LogisticRegression`` pipeline with a scikit-learn face."""

    classes_ = np.array([0, 1])

    def __init__(self, learning_rate: float = 0.01, l2: float = 0.0, seed: int = 0) -> None:
        self.learning_rate = learning_rate
        self.l2 = l2
        self.seed = seed
        self.n_features_in_ = 0
        self.counts_ = np.zeros(0, dtype=np.float64)
        self.means_ = np.zeros(0, dtype=np.float64)
        self.variances_ = np.zeros(0, dtype=np.float64)
        self.weights_ = np.zeros(0, dtype=np.float64)
        self.intercept_ = 0.0
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
            self._model.learn_one(dict(enumerate(row)), bool(label), w=weight if label else 1.0)
        self._export_state()
        return self

    def learn_one(self, row: list[float], is_fraud: bool, weight: float = 1.0) -> None:
        """Learn one more labelled row (after ``fit``, in the process that fitted the model)."""
        if self._model is None:
            raise ValueError("only a model fitted in this process keeps learning; a loaded one holds its state only")
        self._model.learn_one(dict(enumerate(row)), is_fraud, w=weight)
        self._export_state()

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``[P(genuine), P(fraud)]`` per row."""
        if self.n_features_in_ == 0:
            raise ValueError("fit the model first")
        values = np.asarray(matrix, dtype=np.float64)
        deviations = np.sqrt(self.variances_)
        safe = np.where(deviations > 0, deviations, 1.0)
        scaled = np.where(deviations > 0, (values - self.means_) / safe, 0.0)
        logits = scaled @ self.weights_ + self.intercept_
        bounded = np.clip(logits, -_LOGIT_BOUND, _LOGIT_BOUND)
        fraud = np.where(logits < -_LOGIT_BOUND, 0.0, np.where(logits > _LOGIT_BOUND, 1.0, 1 / (1 + np.exp(-bounded))))
        return np.column_stack([1.0 - fraud, fraud])

    def __getstate__(self) -> dict[str, Any]:
        """The learned state as plain numbers (what a saved model holds)."""
        return {name: value for name, value in self.__dict__.items() if name != "_model"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._model = None

    def _export_state(self) -> None:
        scaler, classifier = self._model.steps.values()
        features = range(self.n_features_in_)
        self.counts_ = np.array([float(scaler.counts.get(i, 0)) for i in features])
        self.means_ = np.array([float(scaler.means.get(i, 0.0)) for i in features])
        self.variances_ = np.array([float(scaler.vars.get(i, 0.0)) for i in features])
        self.weights_ = np.array([float(classifier._weights.get(i, 0.0)) for i in features])
        self.intercept_ = float(classifier.intercept)
