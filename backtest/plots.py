"""The report's plots as PNG bytes (matplotlib's Agg canvas, no display, no global pyplot state).

PR and ROC curves on the evaluated rows, Card-Precision@k per day, the score distributions of frauds
and genuine transactions, and the alert volume per day over every transaction in range.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from backtest.evaluation import ModelResult
from backtest.results import SCORE_BINS

__all__ = ["Plot", "plots"]

_DPI: Final = 96

Plot = tuple[str, str, bytes]
"""``(id, title, PNG bytes)``."""


def _days(indices: Sequence[int]) -> npt.NDArray[np.datetime64]:
    """Day indices (days since the epoch) as dates matplotlib puts on a time axis."""
    return np.array(indices, dtype="datetime64[D]")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _both_classes(result: ModelResult) -> bool:
    return 0 < int(result.evaluated_fraud.sum()) < len(result.evaluated_fraud)


def _undefined(axes: Axes) -> None:
    axes.text(0.5, 0.5, "undefined: the evaluated rows hold one class only", ha="center", va="center")


def _pr_curves(results: Sequence[ModelResult]) -> bytes:
    figure = Figure(figsize=(6.4, 4.8))
    axes = figure.add_subplot()
    for result in results:
        if _both_classes(result):
            precision, recall, _ = precision_recall_curve(result.evaluated_fraud, result.evaluated_scores)
            ap = result.evaluation.average_precision
            axes.plot(recall, precision, label=f"{result.model.label} (AP {ap:.3f})")
    if not axes.lines:
        _undefined(axes)
    else:
        axes.legend(loc="upper right", fontsize="small")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    return _png(figure)


def _roc_curves(results: Sequence[ModelResult]) -> bytes:
    figure = Figure(figsize=(6.4, 4.8))
    axes = figure.add_subplot()
    for result in results:
        if _both_classes(result):
            false_positive, true_positive, _ = roc_curve(result.evaluated_fraud, result.evaluated_scores)
            auc = result.evaluation.auc_roc
            axes.plot(false_positive, true_positive, label=f"{result.model.label} (AUC {auc:.3f})")
    if not axes.lines:
        _undefined(axes)
    else:
        axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        axes.legend(loc="lower right", fontsize="small")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    return _png(figure)


def _card_precision(results: Sequence[ModelResult]) -> bytes:
    figure = Figure(figsize=(8, 4))
    axes = figure.add_subplot()
    for result in results:
        cards = result.evaluation.card_precision
        days = _days([day for day, _ in cards.per_day])
        axes.plot(days, [value for _, value in cards.per_day], marker="o", markersize=3, label=result.model.label)
    k = results[0].evaluation.card_precision.k if results else 100
    axes.set(xlabel="day (UTC)", ylabel=f"card precision @ {k}", ylim=(0, None))
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _png(figure)


def _distributions(results: Sequence[ModelResult]) -> bytes:
    figure = Figure(figsize=(8, 2.8 * max(len(results), 1)))
    edges = np.linspace(0.0, 1.0, SCORE_BINS + 1).tolist()
    for index, result in enumerate(results):
        axes = figure.add_subplot(len(results), 1, index + 1)
        scores = np.clip(result.evaluated_scores, 0.0, 1.0)
        fraud = result.evaluated_fraud
        axes.hist(scores[~fraud], bins=edges, alpha=0.6, label="genuine", color="tab:blue")
        axes.hist(scores[fraud], bins=edges, alpha=0.6, label="fraud", color="tab:red")
        axes.set_yscale("log")
        axes.set(title=result.model.label, xlabel="score", ylabel="transactions", xlim=(0, 1))
        axes.legend(fontsize="small")
    return _png(figure)


def _alert_volume(results: Sequence[ModelResult]) -> bytes:
    figure = Figure(figsize=(8, 4))
    axes = figure.add_subplot()
    for index, result in enumerate(results):
        colour = f"C{index}"
        for name, style in (("review", "-"), ("decline", "--")):
            report = result.alert_volume[name]
            per_day = report.alerts_per_day or ()
            axes.plot(
                _days([day for day, _ in per_day]),
                [count for _, count in per_day],
                linestyle=style,
                color=colour,
                marker="o",
                markersize=3,
                label=f"{result.model.label} ≥ {report.threshold:g} ({name})",
            )
    axes.set(xlabel="day (UTC)", ylabel="alerts per day", ylim=(0, None))
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _png(figure)


def plots(results: Sequence[ModelResult]) -> list[Plot]:
    """Every plot of the report, in display order."""
    return [
        ("pr", "Precision-recall curves", _pr_curves(results)),
        ("roc", "ROC curves", _roc_curves(results)),
        ("card-precision", "Card-Precision@k per day", _card_precision(results)),
        ("scores", "Score distributions (evaluated transactions)", _distributions(results)),
        ("alerts", "Alert volume per day (every transaction in range)", _alert_volume(results)),
    ]
