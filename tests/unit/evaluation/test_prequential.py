"""Prequential folds: day bounds, order, the label-delay gap, and too many folds."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from fraudcore.evaluation import prequential_folds

DAYS = np.repeat(np.arange(30), 3)  # days 0..29, three rows each


def _bounds(day: npt.NDArray[np.int64], **kwargs: int) -> list[tuple[int, int, int, int]]:
    return [
        (f.train_first_day, f.train_last_day, f.test_first_day, f.test_last_day)
        for f in prequential_folds(day, **kwargs)
    ]


def test_day_bounds_most_recent_first() -> None:
    assert _bounds(DAYS, train_days=7, delay_days=3, test_days=5, n_folds=4) == [
        (15, 21, 25, 29),
        (10, 16, 20, 24),
        (5, 11, 15, 19),
        (0, 6, 10, 14),
    ]


def test_last_test_day_anchors_fold_zero() -> None:
    assert _bounds(DAYS, train_days=7, delay_days=3, test_days=5, n_folds=1, last_test_day=27) == [(13, 19, 23, 27)]


def test_masks_select_the_windows_and_respect_the_gap() -> None:
    folds = prequential_folds(DAYS, train_days=7, delay_days=3, test_days=5, n_folds=2)
    for index, fold in enumerate(folds):
        assert fold.index == index
        assert fold.train.dtype == np.bool_
        assert fold.test.dtype == np.bool_
        np.testing.assert_array_equal(fold.train, (fold.train_first_day <= DAYS) & (fold.train_last_day >= DAYS))
        np.testing.assert_array_equal(fold.test, (fold.test_first_day <= DAYS) & (fold.test_last_day >= DAYS))
        assert fold.train.sum() == 7 * 3
        assert fold.test.sum() == 5 * 3
        # Three whole days between the last train day and the first test day, used by neither.
        assert DAYS[fold.test].min() - DAYS[fold.train].max() == 3 + 1
        assert not (fold.train & fold.test).any()


def test_zero_delay_puts_test_right_after_train() -> None:
    assert _bounds(DAYS, train_days=10, delay_days=0, test_days=10, n_folds=1) == [(10, 19, 20, 29)]


def test_too_many_folds_is_an_error() -> None:
    with pytest.raises(
        ValueError, match=r"cannot build 5 prequential folds: fold 4 .*train days -5\.\.1.*before the first day"
    ):
        prequential_folds(DAYS, train_days=7, delay_days=3, test_days=5, n_folds=5)


def test_empty_train_window_inside_the_data_is_an_error() -> None:
    day = np.concatenate([np.arange(0, 3), np.arange(20, 30)])
    with pytest.raises(ValueError, match=r"fold 1 .*train window holds no row"):
        prequential_folds(day, train_days=7, delay_days=3, test_days=5, n_folds=2)


def test_empty_test_window_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"fold 0 .*test window holds no row"):
        prequential_folds(DAYS, train_days=7, delay_days=3, test_days=5, n_folds=1, last_test_day=40)


@pytest.mark.parametrize(("name", "value"), [("train_days", 0), ("delay_days", -1), ("test_days", 0), ("n_folds", 0)])
def test_invalid_window_sizes_are_rejected(name: str, value: int) -> None:
    sizes = {"train_days": 7, "delay_days": 3, "test_days": 5, "n_folds": 1} | {name: value}
    with pytest.raises(ValueError, match=name):
        prequential_folds(DAYS, **sizes)


def test_no_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rows"):
        prequential_folds(np.array([], dtype=np.int64), train_days=1, delay_days=0, test_days=1, n_folds=1)
