"""Card Precision@k: hand-computed examples and agreement with a literal transcription of the handbook."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from fraudcore.evaluation import CardPrecision, card_precision_at_k
from tests.unit.evaluation import reference

# (day, card, is_fraud, score)
ROWS = [
    # Day 0, cards by their max score: C 0.95 (fraud), A 0.9 (fraud), B 0.8, D 0.3 (fraud).
    (0, "A", 0, 0.9),
    (0, "A", 1, 0.1),
    (0, "B", 0, 0.8),
    (0, "C", 1, 0.5),
    (0, "C", 0, 0.95),
    (0, "D", 1, 0.3),
    # Day 1: A was detected on day 0 and is left out; B 0.7 (fraud), E 0.65, D 0.6 remain.
    (1, "A", 1, 0.99),
    (1, "B", 1, 0.7),
    (1, "D", 0, 0.6),
    (1, "E", 0, 0.65),
    # Day 2: C was detected; E was in day 1's top k but genuine, so it stays: one card for k = 2.
    (2, "C", 1, 0.9),
    (2, "E", 1, 0.8),
]


Column = npt.NDArray[Any]


def _columns(rows: list[tuple[int, str, int, float]]) -> tuple[Column, Column, Column, Column]:
    day, card, fraud, score = zip(*rows, strict=True)
    return np.array(day), np.array(card), np.array(fraud), np.array(score)


def test_hand_computed_example() -> None:
    result = card_precision_at_k(*_columns(ROWS), k=2)
    # Day 0: top 2 = C, A, both fraudulent cards (their top-scored rows are genuine ones).
    # Day 1: B, E -> 1/2. Day 2: only E -> 1 fraud / k = 1/2.
    assert result == CardPrecision(k=2, mean=2 / 3, per_day=((0, 1.0), (1, 0.5), (2, 0.5)))


def test_card_score_is_the_day_max_and_fraud_is_any() -> None:
    # Card X: genuine row 0.9 and fraudulent row 0.1 -> score 0.9, fraudulent; Y's single row 0.5.
    day, card, fraud, score = _columns([(0, "X", 0, 0.9), (0, "X", 1, 0.1), (0, "Y", 1, 0.5)])
    assert card_precision_at_k(day, card, fraud, score, k=1).per_day == ((0, 1.0),)


def test_detected_cards_are_removed_from_later_days() -> None:
    day, card, fraud, score = _columns([(0, "A", 1, 0.9), (0, "B", 0, 0.1), (1, "A", 1, 0.9), (1, "B", 0, 0.1)])
    # Day 1 without A: only B, genuine.
    assert card_precision_at_k(day, card, fraud, score, k=1).per_day == ((0, 1.0), (1, 0.0))


def test_fraudulent_card_outside_the_top_k_is_not_removed() -> None:
    day, card, fraud, score = _columns([(0, "A", 0, 0.9), (0, "B", 1, 0.1), (1, "B", 1, 0.9), (1, "A", 0, 0.1)])
    assert card_precision_at_k(day, card, fraud, score, k=1).per_day == ((0, 0.0), (1, 1.0))


def test_day_whose_cards_were_all_detected_counts_zero() -> None:
    day, card, fraud, score = _columns([(0, "A", 1, 0.9), (1, "A", 1, 0.9)])
    result = card_precision_at_k(day, card, fraud, score, k=1)
    assert result.per_day == ((0, 1.0), (1, 0.0))
    assert result.mean == 0.5


def test_k_larger_than_the_cards_still_divides_by_k() -> None:
    day, card, fraud, score = _columns([(0, "A", 1, 0.9), (0, "B", 1, 0.8), (0, "C", 0, 0.7)])
    assert card_precision_at_k(day, card, fraud, score, k=100).per_day == ((0, 0.02),)


def test_ties_are_broken_by_ascending_card_id() -> None:
    day, fraud, score = np.array([0, 0]), np.array([1, 0]), np.array([0.5, 0.5])
    assert card_precision_at_k(day, np.array(["b", "a"]), fraud, score, k=1).mean == 0.0
    assert card_precision_at_k(day, np.array(["a", "b"]), fraud, score, k=1).mean == 1.0
    # Integer ids compare as numbers: 9 ranks before 10.
    assert card_precision_at_k(day, np.array([10, 9]), fraud, score, k=1).mean == 0.0


def test_days_are_the_days_present_ascending() -> None:
    day, card, fraud, score = _columns([(9, "A", 1, 0.9), (5, "B", 0, 0.9)])
    assert card_precision_at_k(day, card, fraud, score, k=1).per_day == ((5, 0.0), (9, 1.0))


def test_no_rows_gives_nan_mean() -> None:
    empty = np.array([], dtype=np.int64)
    result = card_precision_at_k(empty, empty, empty, np.array([]), k=5)
    assert math.isnan(result.mean)
    assert result.per_day == ()


@pytest.mark.parametrize("k", [0, -1, True, 2.5])
def test_k_must_be_a_positive_integer(k: object) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        card_precision_at_k([0], ["A"], [1], [0.5], k=k)  # type: ignore[arg-type]


def test_inputs_of_different_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        card_precision_at_k([0, 0], ["A"], [1, 0], [0.5, 0.4])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ids", ["int", "str", "object"])
def test_agrees_with_the_handbook_loop(seed: int, ids: str) -> None:
    rng = np.random.default_rng(seed)
    rows = 400
    day = rng.integers(0, 8, rows)
    numbers = rng.integers(0, 40, rows)
    customer = {"int": numbers, "str": numbers.astype(str), "object": numbers.astype(str).astype(object)}[ids]
    fraud = rng.random(rows) < 0.2
    score = np.round(rng.random(rows), 1)  # coarse scores: many ties
    expected = reference.card_precision_at_k(day.tolist(), customer.tolist(), fraud.tolist(), score.tolist(), k=5)
    result = card_precision_at_k(day, customer, fraud, score, k=5)
    assert result.per_day == tuple(expected)
    assert result.mean == pytest.approx(np.mean([value for _, value in expected]))


def test_row_order_does_not_matter() -> None:
    rng = np.random.default_rng(7)
    rows = 1_000
    day, customer = rng.integers(0, 10, rows), rng.integers(0, 60, rows)
    fraud, score = rng.random(rows) < 0.1, np.round(rng.random(rows), 2)
    shuffled = rng.permutation(rows)
    assert card_precision_at_k(day, customer, fraud, score, k=10) == card_precision_at_k(
        day[shuffled], customer[shuffled], fraud[shuffled], score[shuffled], k=10
    )
