"""One evaluation bundling every metric, as JSON for reports and as flat metrics for MLflow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias

import numpy.typing as npt

from fraudcore.evaluation import _arrays
from fraudcore.evaluation.metrics import (
    CardPrecision,
    ThresholdReport,
    auc_roc,
    average_precision,
    card_precision_at_k,
    recall_by_scenario,
    threshold_report,
)

__all__ = ["Evaluation", "JsonValue", "evaluate"]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"


def _number(value: float | None) -> float | None:
    """``None`` for ``nan`` (not valid JSON) or a missing value, the value otherwise."""
    return None if value is None or math.isnan(value) else value


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Every metric of one set of scored, labelled transactions."""

    transactions: int
    frauds: int
    auc_roc: float
    average_precision: float
    card_precision: CardPrecision
    recall_by_scenario: dict[int, float] | None
    """Recall per fraud scenario at the threshold; ``None`` when no scenario was given."""
    threshold: ThresholdReport

    def headline(self) -> dict[str, float]:
        """The headline metrics under valid MLflow metric keys (``nan`` when undefined)."""
        return {
            "auc_roc": self.auc_roc,
            "average_precision": self.average_precision,
            f"card_precision_at_{self.card_precision.k}": self.card_precision.mean,
        }

    def as_dict(self) -> dict[str, JsonValue]:
        """Plain JSON types in a fixed key order; ``nan`` becomes ``None`` (JSON ``null``).

        Equal inputs give equal dicts, so ``json.dumps`` writes identical bytes.
        """
        cards, alerts = self.card_precision, self.threshold
        per_day_alerts: JsonValue = None
        if alerts.alerts_per_day is not None:
            per_day_alerts = [{"day": day, "alerts": count} for day, count in alerts.alerts_per_day]
        scenarios: JsonValue = None
        if self.recall_by_scenario is not None:
            scenarios = {str(scenario): _number(recall) for scenario, recall in sorted(self.recall_by_scenario.items())}
        return {
            "transactions": self.transactions,
            "frauds": self.frauds,
            "auc_roc": _number(self.auc_roc),
            "average_precision": _number(self.average_precision),
            "card_precision": {
                "k": cards.k,
                "mean": _number(cards.mean),
                "per_day": [{"day": day, "precision": precision} for day, precision in cards.per_day],
            },
            "recall_by_scenario": scenarios,
            "threshold": {
                "threshold": alerts.threshold,
                "alerts": alerts.alerts,
                "frauds_alerted": alerts.frauds_alerted,
                "precision": _number(alerts.precision),
                "recall": _number(alerts.recall),
                "alerts_per_day_mean": _number(alerts.alerts_per_day_mean),
                "alerts_per_day": per_day_alerts,
                "fraud_amount_caught": _number(alerts.fraud_amount_caught),
                "fraud_amount_missed": _number(alerts.fraud_amount_missed),
            },
        }


def evaluate(
    is_fraud: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    day: npt.ArrayLike,
    customer: npt.ArrayLike,
    scenario: npt.ArrayLike | None = None,
    amounts: npt.ArrayLike | None = None,
    threshold: float = 0.5,
    k: int = 100,
) -> Evaluation:
    """AUC ROC, Average Precision, Card Precision@k and, at ``threshold``, the alert report and the
    recall per fraud scenario (when ``scenario`` is given)."""
    fraud, score = _arrays.labels(is_fraud), _arrays.scores(scores)
    days = _arrays.days(day)
    report = threshold_report(fraud, score, threshold, amounts=amounts, day=days)
    recalls = None
    if scenario is not None:
        recalls = recall_by_scenario(scenario, score >= threshold)
    return Evaluation(
        transactions=report.transactions,
        frauds=report.frauds,
        auc_roc=auc_roc(fraud, score),
        average_precision=average_precision(fraud, score),
        card_precision=card_precision_at_k(days, customer, fraud, score, k=k),
        recall_by_scenario=recalls,
        threshold=report,
    )
