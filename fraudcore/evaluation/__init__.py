"""Evaluation metrics that the trainer and the backtest both report (Fraud-Detection-Handbook, ch. 4 and 5).

AUC ROC, Average Precision and Card Precision@k (:mod:`~fraudcore.evaluation.metrics`), the
prequential folds (:mod:`~fraudcore.evaluation.prequential`) and the bundled report
(:mod:`~fraudcore.evaluation.report`). Pure functions on numpy arrays: no I/O, deterministic.
"""

from fraudcore.evaluation.metrics import (
    CardPrecision,
    ThresholdReport,
    auc_roc,
    average_precision,
    card_precision_at_k,
    recall_by_scenario,
    threshold_report,
)
from fraudcore.evaluation.prequential import Fold, NotEnoughData, prequential_folds
from fraudcore.evaluation.report import Evaluation, JsonValue, evaluate

__all__ = [
    "CardPrecision",
    "Evaluation",
    "Fold",
    "JsonValue",
    "NotEnoughData",
    "ThresholdReport",
    "auc_roc",
    "average_precision",
    "card_precision_at_k",
    "evaluate",
    "prequential_folds",
    "recall_by_scenario",
    "threshold_report",
]
