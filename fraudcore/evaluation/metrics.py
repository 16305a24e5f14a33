"""Fraud-detection metrics of the Fraud-Detection-Handbook (Le Borgne et al., chapters 4 and 5).

Pure, deterministic functions on 1-D arrays of equal length, vectorised with numpy.

* ``is_fraud``: booleans or 0/1 integers (1 = fraud).
* ``scores``: finite reals, higher = more suspicious (NaN or infinity is a ``ValueError``).
* ``day``: integer day indices, e.g. ``event_time_ms // DAY_MS``.
* ``customer``: card ids, strings or integers.

A transaction is *alerted* at a threshold when its score is ``>= threshold`` (a score equal to the
threshold falls in the higher class, as in the scorer). A metric that is undefined for its input
(one class only, no alert, no day) is ``nan``, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, roc_auc_score

from fraudcore.evaluation import _arrays

__all__ = [
    "CardPrecision",
    "ThresholdReport",
    "auc_roc",
    "average_precision",
    "card_precision_at_k",
    "recall_by_scenario",
    "threshold_report",
]

_NAN = math.nan


@dataclass(frozen=True, slots=True)
class CardPrecision:
    """Card Precision@k: the mean over days and each day's value, days ascending."""

    k: int
    mean: float
    """Mean of the per-day values; ``nan`` when there is no day."""
    per_day: tuple[tuple[int, float], ...]
    """``(day, precision)`` for every day present in the input, ascending."""


@dataclass(frozen=True, slots=True)
class ThresholdReport:
    """What alerting at ``score >= threshold`` yields."""

    threshold: float
    transactions: int
    frauds: int
    alerts: int
    frauds_alerted: int
    precision: float
    """``frauds_alerted / alerts``; ``nan`` when there is no alert."""
    recall: float
    """``frauds_alerted / frauds``; ``nan`` when there is no fraud."""
    alerts_per_day_mean: float | None
    """Mean alerts over the days present; ``None`` when no ``day`` was given."""
    alerts_per_day: tuple[tuple[int, int], ...] | None
    """``(day, alerts)`` for every day present, ascending (days without alert count 0); ``None`` without ``day``."""
    fraud_amount_caught: float | None
    """Sum of the alerted frauds' amounts (an ``int`` for integer amounts); ``None`` without ``amounts``."""
    fraud_amount_missed: float | None
    """Sum of the frauds' amounts that were not alerted; ``None`` without ``amounts``."""


def _both_classes(fraud: npt.NDArray[np.bool_]) -> bool:
    positives = int(np.count_nonzero(fraud))
    return 0 < positives < len(fraud)


def _ranking_inputs(
    is_fraud: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    fraud, score = _arrays.labels(is_fraud), _arrays.scores(scores)
    _arrays.same_length(is_fraud=fraud, scores=score)
    return fraud, score


def auc_roc(is_fraud: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``); ``nan`` unless both classes are present."""
    fraud, score = _ranking_inputs(is_fraud, scores)
    if not _both_classes(fraud):
        return _NAN
    return float(roc_auc_score(fraud.view(np.int8), score))


def average_precision(is_fraud: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Average Precision (scikit-learn's ``average_precision_score``); ``nan`` unless both classes are present."""
    fraud, score = _ranking_inputs(is_fraud, scores)
    if not _both_classes(fraud):
        return _NAN
    return float(average_precision_score(fraud.view(np.int8), score))


def card_precision_at_k(
    day: npt.ArrayLike,
    customer: npt.ArrayLike,
    is_fraud: npt.ArrayLike,
    scores: npt.ArrayLike,
    k: int = 100,
) -> CardPrecision:
    """The handbook's Card Precision@k with removal of already detected cards.

    For each day present, in ascending order: a card's score is the maximum score of its
    transactions that day and the card is fraudulent that day if any of them is a fraud; cards
    detected on an earlier day (fraudulent and in that day's top ``k``) are left out; the day's value
    is the number of fraudulent cards among the ``k`` highest-scored remaining cards, divided by
    ``k`` — always by ``k``, as the handbook does, even when fewer than ``k`` cards remain (a day
    with 3 cards, all fraudulent, scores 3/k). Equal scores are ranked by card id, ascending, so the
    result does not depend on row order. ``mean`` averages the days' values (``nan`` for no row).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    days, cards = _arrays.days(day), _arrays.ids(customer)
    fraud, score = _arrays.labels(is_fraud), _arrays.scores(scores)
    if _arrays.same_length(day=days, customer=cards, is_fraud=fraud, scores=score) == 0:
        return CardPrecision(k=k, mean=_NAN, per_day=())

    day_values, day_code = np.unique(days, return_inverse=True)
    card_code, n_cards = _arrays.codes(cards)
    # One group per (day, card); codes follow the sorted ids, so ordering by code is ordering by id.
    key = day_code.astype(np.int64) * n_cards + card_code
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_key[1:] != sorted_key[:-1])))
    group_score = np.maximum.reduceat(score[order], starts)
    group_fraud = np.logical_or.reduceat(fraud[order], starts)
    group_day, group_card = np.divmod(sorted_key[starts], n_cards)

    # Within each day: highest score first, then lowest card id.
    ranking = np.lexsort((group_card, -group_score, group_day))
    ranked_card, ranked_fraud = group_card[ranking], group_fraud[ranking]
    bounds = np.searchsorted(group_day[ranking], np.arange(len(day_values) + 1))

    detected = np.zeros(n_cards, dtype=np.bool_)
    per_day: list[tuple[int, float]] = []
    for index, day_value in enumerate(day_values.tolist()):
        lo, hi = bounds[index], bounds[index + 1]
        remaining = ~detected[ranked_card[lo:hi]]
        top_card = ranked_card[lo:hi][remaining][:k]
        caught = top_card[ranked_fraud[lo:hi][remaining][:k]]
        detected[caught] = True
        per_day.append((day_value, len(caught) / k))
    return CardPrecision(k=k, mean=float(np.mean([value for _, value in per_day])), per_day=tuple(per_day))


def recall_by_scenario(scenario: npt.ArrayLike, alerted: npt.ArrayLike) -> dict[int, float]:
    """For each fraud scenario id ``> 0`` present, the share of its transactions alerted; ids ascending.

    Scenario 0 (genuine) and negative ids are left out.
    """
    scenarios, alert = _arrays.scenarios(scenario), _arrays.labels(alerted, "alerted")
    _arrays.same_length(scenario=scenarios, alerted=alert)
    fraudulent = scenarios > 0
    ids, code = np.unique(scenarios[fraudulent], return_inverse=True)
    totals = np.bincount(code, minlength=len(ids))
    hits = np.bincount(code[alert[fraudulent]], minlength=len(ids))
    return {int(i): int(h) / int(t) for i, h, t in zip(ids.tolist(), hits.tolist(), totals.tolist(), strict=True)}


def _amount_sum(values: npt.NDArray[np.float64] | npt.NDArray[np.int64]) -> float:
    total = values.sum()
    return int(total) if np.issubdtype(values.dtype, np.integer) else float(total)


def threshold_report(
    is_fraud: npt.ArrayLike,
    scores: npt.ArrayLike,
    threshold: float,
    amounts: npt.ArrayLike | None = None,
    day: npt.ArrayLike | None = None,
) -> ThresholdReport:
    """Precision, recall and alert volume when alerting at ``score >= threshold``.

    With ``day``, the alerts per day (every day present, mean over them); with ``amounts``, the fraud
    amount caught (alerted frauds) and missed (other frauds), in the unit of ``amounts``.
    """
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    fraud, score = _ranking_inputs(is_fraud, scores)
    alert = score >= threshold
    frauds, alerts = int(np.count_nonzero(fraud)), int(np.count_nonzero(alert))
    frauds_alerted = int(np.count_nonzero(fraud & alert))

    per_day: tuple[tuple[int, int], ...] | None = None
    per_day_mean: float | None = None
    if day is not None:
        days = _arrays.days(day)
        _arrays.same_length(is_fraud=fraud, day=days)
        day_values, code = np.unique(days, return_inverse=True)
        counts = np.bincount(code[alert], minlength=len(day_values))
        per_day = tuple(zip(day_values.tolist(), counts.tolist(), strict=True))
        per_day_mean = float(counts.mean()) if len(counts) else _NAN

    caught: float | None = None
    missed: float | None = None
    if amounts is not None:
        money = _arrays.amounts(amounts)
        _arrays.same_length(is_fraud=fraud, amounts=money)
        caught, missed = _amount_sum(money[fraud & alert]), _amount_sum(money[fraud & ~alert])

    return ThresholdReport(
        threshold=float(threshold),
        transactions=len(fraud),
        frauds=frauds,
        alerts=alerts,
        frauds_alerted=frauds_alerted,
        precision=frauds_alerted / alerts if alerts else _NAN,
        recall=frauds_alerted / frauds if frauds else _NAN,
        alerts_per_day_mean=per_day_mean,
        alerts_per_day=per_day,
        fraud_amount_caught=caught,
        fraud_amount_missed=missed,
    )
