"""The summary printed at the end of a backtest: what was read, one table row per model, the rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from backtest.evaluation import ModelResult
from backtest.html_report import RunInfo
from backtest.results import BacktestNumbers
from backtest.timerange import iso

__all__ = ["summary"]

_COLUMNS = ("AUC", "AP", "CP@{k}", "P@rev", "R@rev", "rev/day", "P@dec", "R@dec", "dec/day", "caught", "missed")


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _model_row(result: ModelResult, width: int) -> str:
    evaluation, decline = result.evaluation, result.decline
    review = evaluation.threshold
    caught, missed = review.fraud_amount_caught, review.fraud_amount_missed
    cells = [
        _cell(evaluation.auc_roc, ".3f"),
        _cell(evaluation.average_precision, ".3f"),
        _cell(evaluation.card_precision.mean, ".3f"),
        _cell(review.precision, ".3f"),
        _cell(review.recall, ".3f"),
        _cell(result.alert_volume["review"].alerts_per_day_mean, ",.1f"),
        _cell(decline.precision, ".3f"),
        _cell(decline.recall, ".3f"),
        _cell(result.alert_volume["decline"].alerts_per_day_mean, ",.1f"),
        _cell(None if caught is None else caught / 100, ",.0f"),
        _cell(None if missed is None else missed / 100, ",.0f"),
    ]
    return f"{result.model.label:<{width}}" + "".join(f"{cell:>9}" for cell in cells)


def summary(
    numbers: BacktestNumbers, results: Sequence[ModelResult], info: RunInfo, html: Path, json_path: Path
) -> str:
    """The summary text (several lines, no trailing newline)."""
    rows, stats, window = numbers.rows, numbers.stats, numbers.time_range
    data = rows.data
    in_range = int(rows.in_range.sum())
    labelled = int((rows.in_range & data.labelled).sum())
    evaluated = int(rows.evaluated.sum())
    frauds = int(data.is_fraud[rows.evaluated].sum())
    known = int(rows.known_compromised.sum())
    known_text = "kept" if numbers.keep_known_compromised else "left out"
    skipped = "; ".join(
        f"{sum(counter.values()):,} invalid {kind}"
        + (" (" + ", ".join(f"{reason} {n:,}" for reason, n in sorted(counter.items())) + ")" if counter else "")
        for kind, counter in stats.invalid.items()
    )
    k = results[0].evaluation.card_precision.k if results else 100
    width = max([len("model"), *(len(result.model.label) for result in results)]) + 2
    header = f"{'model':<{width}}" + "".join(f"{column.format(k=k):>9}" for column in _COLUMNS)
    lines = [
        f"backtest {iso(window.start_ms)} to {iso(window.end_ms)}: {in_range:,} transactions in range, "
        f"{labelled:,} labelled, {evaluated:,} evaluated ({frauds:,} frauds; {known:,} rows of cards already "
        f"known compromised {known_text})",
        f"skipped: {skipped}; duplicates dropped: {stats.duplicates['transactions']:,} transactions, "
        f"{stats.duplicates['labels']:,} labels",
        "",
        header,
        *(_model_row(result, width) for result in results),
        "",
        f"P/R = precision/recall on the evaluated rows at review >= {numbers.review:g} and decline >= "
        f"{numbers.decline:g}; /day = alerts per day over every transaction in range; caught/missed = fraud "
        "amount at the review threshold",
        f"replay: {info.transactions_replayed:,} transactions at {info.replay_rate:,.0f}/s ("
        + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in info.seconds.items())
        + ")",
    ]
    if info.verdicts is not None:
        lines.append(f"verdicts: {info.verdicts[1]:,} written to {info.verdicts[0]}")
    lines.append(f"report: {html}\nnumbers: {json_path}")
    return "\n".join(lines)
