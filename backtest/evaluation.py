"""One model's backtest numbers, all from :mod:`fraudcore.evaluation` (the trainer's metrics).

On the evaluated rows: AUC ROC, Average Precision, Card-Precision@k per day and overall, and at the
review threshold precision, recall, alerts per day, recall per fraud scenario (when every row's
scenario is known) and the fraud amount caught and missed; the same alert report at the decline
threshold. On every row in range (labelled or not): the alert volume per day at both thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backtest.models import BacktestModel
from backtest.rows import EvaluationRows
from fraudcore.evaluation import Evaluation, ThresholdReport, evaluate, recall_by_scenario, threshold_report

__all__ = ["ModelResult", "evaluate_model"]


@dataclass(frozen=True, eq=False)
class ModelResult:
    """What one model scored and how it fared."""

    model: BacktestModel
    scores: npt.NDArray[np.float64]
    """Scores of the rows in range, in row order."""
    evaluation: Evaluation
    """On the evaluated rows, at the review threshold."""
    decline: ThresholdReport
    """On the evaluated rows, at the decline threshold."""
    decline_recall_by_scenario: dict[int, float] | None
    alert_volume: dict[str, ThresholdReport]
    """``review`` and ``decline``: alerts on every row in range (only the alert counts are meaningful)."""
    evaluated_scores: npt.NDArray[np.float64]
    evaluated_fraud: npt.NDArray[np.bool_]


def evaluate_model(
    model: BacktestModel,
    rows: EvaluationRows,
    scores: npt.NDArray[np.float64],
    *,
    review: float,
    decline: float,
    k: int,
) -> ModelResult:
    """Evaluate ``scores`` (one per row in range) at the ``review`` and ``decline`` thresholds."""
    data = rows.data
    chosen = rows.evaluated[rows.in_range]
    picked = scores[chosen]
    fraud, day = data.is_fraud[rows.evaluated], data.day[rows.evaluated]
    cents = rows.amount_cents[rows.evaluated]
    scenario = data.scenario[rows.evaluated] if rows.scenarios_known else None
    evaluation = evaluate(
        fraud,
        picked,
        day=day,
        customer=data.customer[rows.evaluated],
        scenario=scenario,
        amounts=cents,
        threshold=review,
        k=k,
    )
    all_fraud, all_days = data.is_fraud[rows.in_range], data.day[rows.in_range]
    return ModelResult(
        model=model,
        scores=scores,
        evaluation=evaluation,
        decline=threshold_report(fraud, picked, decline, amounts=cents, day=day),
        decline_recall_by_scenario=None if scenario is None else recall_by_scenario(scenario, picked >= decline),
        alert_volume={
            name: threshold_report(all_fraud, scores, threshold, day=all_days)
            for name, threshold in (("review", review), ("decline", decline))
        },
        evaluated_scores=picked,
        evaluated_fraud=fraud,
    )
