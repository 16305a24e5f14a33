"""Per-feature contributions to a score, for the model families that can say them exactly and cheaply.

* ``linear``: a :class:`~sklearn.linear_model.LogisticRegression`, alone or ending a pipeline whose
  earlier steps map features one to one (scalers, imputers: ``get_feature_names_out`` returns the input
  names). Contribution = coefficient * the value the regression sees (standardized, after a
  ``StandardScaler``); intercept + the contributions = the logit, exactly.
* ``tree_path``: a random forest, extra trees or a single decision tree (same pipeline rule).
  Path attribution (Saabas, as in ``treeinterpreter``): along each tree's decision path, the change of
  the class-1 fraction at a split is credited to the split's feature, averaged over the trees; the
  base rate + the contributions = the forest's probability (exactly, up to the float32 rounding of the
  per-leaf table). It is a local decomposition, not Shapley values: it favours features split near
  the root.
* ``none``: everything else, histogram gradient boosting included. Its predictors are private
  structures and no exact attribution is cheap, so no reasons are given rather than guessed ones.

Every explainer is vectorized: per batch, one transform or one ``apply`` call and a few numpy
operations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["Explainer", "ReasonMethod", "build_explainer", "top_reasons"]

ReasonMethod = Literal["linear", "tree_path", "none"]

Matrix = NDArray[np.float64]
Contributions = Callable[[Matrix], Matrix]


@dataclass(frozen=True, slots=True)
class Explainer:
    """How a model's scores decompose over its features (``contributions`` is None for ``none``)."""

    method: ReasonMethod
    contributions: Contributions | None


NO_EXPLAINER = Explainer("none", None)


def build_explainer(estimator: Any, feature_names: Sequence[str]) -> Explainer:
    """The explainer of a fitted estimator scoring a matrix whose columns are ``feature_names``."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    preprocess: Any = None
    final = estimator
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        if len(estimator.steps) > 1:
            preprocess = estimator[:-1]
            if not _one_to_one(preprocess, feature_names):
                return NO_EXPLAINER
    n_features = len(feature_names)
    if isinstance(final, LogisticRegression):
        coefficients = np.asarray(final.coef_, dtype=np.float64)
        if coefficients.shape != (1, n_features):
            return NO_EXPLAINER
        return Explainer("linear", _linear(preprocess, coefficients[0].copy()))
    if isinstance(final, RandomForestClassifier | ExtraTreesClassifier):
        trees = list(final.estimators_)
    elif isinstance(final, DecisionTreeClassifier):
        trees = [final]
    else:
        return NO_EXPLAINER
    if not trees or any(np.shape(tree.tree_.value)[1:] != (1, 2) for tree in trees):
        return NO_EXPLAINER  # not a single-output binary classifier
    return Explainer("tree_path", _TreePath(preprocess, final, trees, n_features))


def top_reasons(contributions: Matrix, feature_names: Sequence[str], top_k: int) -> list[list[str]]:
    """Per row, up to ``top_k`` names of the features with the largest positive contributions."""
    rows, columns = contributions.shape
    k = min(top_k, columns)
    if k <= 0:
        return [[] for _ in range(rows)]
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    positive = np.take_along_axis(contributions, order, axis=1) > 0.0
    names = np.asarray(feature_names, dtype=object)[order].tolist()
    return [row[:count] for row, count in zip(names, positive.sum(axis=1).tolist(), strict=True)]


def _one_to_one(preprocess: Any, feature_names: Sequence[str]) -> bool:
    """Whether the steps before the final estimator keep one column per input feature, in order."""
    try:
        names_out = preprocess.get_feature_names_out(list(feature_names))
    except (AttributeError, TypeError, ValueError):
        return False
    return [str(name) for name in names_out] == list(feature_names)


def _linear(preprocess: Any, coefficients: NDArray[np.float64]) -> Contributions:
    def contributions(matrix: Matrix) -> Matrix:
        seen = matrix if preprocess is None else preprocess.transform(matrix)
        return np.asarray(seen, dtype=np.float64) * coefficients

    return contributions


class _TreePath:
    """Path attribution of a tree or forest, from the leaf each row reaches in each tree.

    Built on first use (validation scores the reference batch, so that happens in the loading
    thread): per leaf, the sum of the changes credited to each feature on the way from the root, a
    ``n_leaves x n_features`` float32 table (with 15 features, about a third of the forest's own
    memory). A batch is
    then one ``apply`` (the same tree traversal ``predict_proba`` does) and one gather-and-sum.
    """

    def __init__(self, preprocess: Any, model: Any, trees: list[Any], n_features: int) -> None:
        self._preprocess = preprocess
        self._model = model
        self._trees = trees
        self._n_features = n_features
        self._lock = threading.Lock()
        self._tables: tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]] | None = None

    def __call__(self, matrix: Matrix) -> Matrix:
        node_offsets, leaf_row, table = self._built()
        seen = matrix if self._preprocess is None else self._preprocess.transform(matrix)
        leaves = np.asarray(self._model.apply(seen), dtype=np.intp).reshape(matrix.shape[0], -1)
        return np.asarray(table[leaf_row[leaves + node_offsets]].sum(axis=1, dtype=np.float64), dtype=np.float64)

    def _built(self) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
        with self._lock:
            if self._tables is None:
                self._tables = self._build()
            return self._tables

    def _build(self) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
        node_offsets, leaf_rows, tables = [], [], []
        nodes = leaves = 0
        for tree in self._trees:
            leaf_row, table = _leaf_table(tree.tree_, self._n_features)
            node_offsets.append(nodes)
            leaf_rows.append(np.where(leaf_row >= 0, leaf_row + leaves, -1))
            tables.append((table / len(self._trees)).astype(np.float32))
            nodes += leaf_row.shape[0]
            leaves += table.shape[0]
        return np.asarray(node_offsets, dtype=np.intp), np.concatenate(leaf_rows), np.concatenate(tables)


def _leaf_table(tree: Any, n_features: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Per node, its row in the leaf table (-1: not a leaf); per leaf, the credit of each feature."""
    value = np.asarray(tree.value, dtype=np.float64)[:, 0, 1]
    left = np.asarray(tree.children_left, dtype=np.intp)
    right = np.asarray(tree.children_right, dtype=np.intp)
    split_feature = np.asarray(tree.feature, dtype=np.intp)
    credit = np.zeros((value.shape[0], n_features))
    frontier = np.zeros(1, dtype=np.intp)
    while frontier.size:
        parents = frontier[left[frontier] >= 0]
        for children in (left[parents], right[parents]):
            credit[children] = credit[parents]
            credit[children, split_feature[parents]] += value[children] - value[parents]
        frontier = np.concatenate([left[parents], right[parents]])
    leaves = np.flatnonzero(left < 0)
    leaf_row = np.full(value.shape[0], -1, dtype=np.intp)
    leaf_row[leaves] = np.arange(leaves.shape[0])
    return leaf_row, credit[leaves]
