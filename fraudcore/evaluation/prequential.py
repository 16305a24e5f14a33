"""The handbook's prequential folds on day indices (Fraud-Detection-Handbook, chapter 5).

Each fold is a train window of ``train_days`` days, a gap of ``delay_days`` days whose labels are
not yet known at test time (the label delay), then a test window of ``test_days`` days::

    | train (train_days) | gap (delay_days) | test (test_days) |

Fold 0 is the most recent: its test window ends at ``last_test_day`` (default: the last day
present). Fold ``i`` is fold 0 shifted back by ``i * test_days`` days, so the folds' test windows
tile the past without overlap. All bounds are inclusive day indices.

Asking for more folds than the data allows is an error, not a silent shortfall: a ``ValueError``
names the first fold whose train or test window holds no row, or whose train window starts before
the first day present (it would train on fewer days than asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fraudcore.evaluation import _arrays

__all__ = ["Fold", "NotEnoughData", "prequential_folds"]


class NotEnoughData(ValueError):
    """The data cannot yet give what was asked (the folds' windows, both classes in a training
    window): more history is needed, nothing is wrong."""


@dataclass(frozen=True, eq=False, slots=True)
class Fold:
    """One prequential fold: inclusive day bounds and boolean row masks."""

    index: int
    """0 for the most recent fold, counting back in time."""
    train_first_day: int
    train_last_day: int
    test_first_day: int
    test_last_day: int
    train: npt.NDArray[np.bool_]
    """Rows whose day lies in ``[train_first_day, train_last_day]``."""
    test: npt.NDArray[np.bool_]
    """Rows whose day lies in ``[test_first_day, test_last_day]``."""


def _positive(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def prequential_folds(
    day: npt.ArrayLike,
    *,
    train_days: int,
    delay_days: int,
    test_days: int,
    n_folds: int,
    last_test_day: int | None = None,
) -> list[Fold]:
    """The ``n_folds`` prequential folds over ``day`` (integer day indices), most recent first."""
    _positive("train_days", train_days, 1)
    _positive("delay_days", delay_days, 0)
    _positive("test_days", test_days, 1)
    _positive("n_folds", n_folds, 1)
    days = _arrays.days(day)
    if len(days) == 0:
        raise NotEnoughData("no rows to split into prequential folds")
    first_day, last_day = int(days.min()), int(days.max())
    end = last_day if last_test_day is None else int(last_test_day)

    folds: list[Fold] = []
    for index in range(n_folds):
        test_last = end - index * test_days
        test_first = test_last - test_days + 1
        train_last = test_first - delay_days - 1
        train_first = train_last - train_days + 1
        train = (days >= train_first) & (days <= train_last)
        test = (days >= test_first) & (days <= test_last)
        problem = None
        if train_first < first_day:
            problem = f"its train window starts before the first day present ({first_day})"
        elif not train.any():
            problem = "its train window holds no row"
        elif not test.any():
            problem = "its test window holds no row"
        if problem is not None:
            raise NotEnoughData(
                f"cannot build {n_folds} prequential folds: fold {index} (train days {train_first}..{train_last}, "
                f"test days {test_first}..{test_last}) is not covered, {problem}; data covers days "
                f"{first_day}..{last_day}; ask for fewer folds or shorter windows"
            )
        folds.append(Fold(index, train_first, train_last, test_first, test_last, train, test))
    return folds
