"""Input checks shared by the metrics: every input is a 1-D array, all of one length."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["amounts", "codes", "days", "ids", "labels", "same_length", "scenarios", "scores"]


def _one_d(values: npt.ArrayLike, name: str) -> npt.NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    return array


def labels(values: npt.ArrayLike, name: str = "is_fraud") -> npt.NDArray[np.bool_]:
    """Booleans, or integers that are all 0 or 1."""
    array = _one_d(values, name)
    if array.dtype == np.bool_:
        return array.astype(np.bool_, copy=False)
    if not np.issubdtype(array.dtype, np.integer) and array.size:
        raise ValueError(f"{name} must hold booleans or 0/1 integers, got dtype {array.dtype}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return array.astype(np.bool_)


def scores(values: npt.ArrayLike, name: str = "scores") -> npt.NDArray[np.float64]:
    """Finite real numbers, as float64."""
    array = _one_d(values, name)
    if array.size and not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    result = array.astype(np.float64)
    if not np.isfinite(result).all():
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return result


def amounts(values: npt.ArrayLike) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
    """Finite amounts: integer input stays int64 (exact sums), anything else becomes float64."""
    array = _one_d(values, "amounts")
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64)
    return scores(array, "amounts")


def days(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Integer day indices, as int64."""
    array = _one_d(values, "day")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"day must hold integer day indices (e.g. event_time_ms // DAY_MS), got dtype {array.dtype}")
    return array.astype(np.int64)


def scenarios(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Integer fraud scenario ids, as int64."""
    array = _one_d(values, "scenario")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"scenario must hold integer scenario ids, got dtype {array.dtype}")
    return array.astype(np.int64)


def ids(values: npt.ArrayLike, name: str = "customer") -> npt.NDArray[np.generic]:
    """Identifiers of any sortable kind (strings or integers)."""
    return _one_d(values, name)


def codes(values: npt.NDArray[np.generic]) -> tuple[npt.NDArray[np.int64], int]:
    """Dense codes numbering the distinct values in ascending order, and their number.

    Object arrays (e.g. Python strings) are numbered through a dict, sorting only the distinct
    values: much faster than ``np.unique`` on objects, with the same result.
    """
    if values.dtype != np.object_:
        distinct, inverse = np.unique(values, return_inverse=True)
        return inverse.astype(np.int64, copy=False), len(distinct)
    first_seen: dict[object, int] = {}
    seen = np.fromiter(
        (first_seen.setdefault(value, len(first_seen)) for value in values.tolist()), dtype=np.int64, count=len(values)
    )
    uniques: list[Any] = list(first_seen)
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[sorted(range(len(uniques)), key=uniques.__getitem__)] = np.arange(len(uniques))
    return rank[seen], len(uniques)


def same_length(**arrays: npt.NDArray[np.generic]) -> int:
    """The common length of the arrays; a ValueError naming them when they differ."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"inputs must have the same length, got {described}")
    return next(iter(lengths.values()), 0)
