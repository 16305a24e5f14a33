"""The JSON file of a backtest's numbers: only what the topics, the range, the settings and the models
determine (no clock, no duration, no store name), in a fixed key order, so a rerun writes the same
bytes. Amounts are integer cents; days are day indices (``epoch_ms // 86_400_000``); an undefined
metric is ``null``.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backtest.evaluation import ModelResult
from backtest.history import ReadStats
from backtest.rows import EvaluationRows
from backtest.timerange import TimeRange, iso
from fraudcore.evaluation import JsonValue, ThresholdReport
from fraudcore.features.definition import FeatureSpec

__all__ = ["SCORE_BINS", "BacktestNumbers", "results_document", "write_json"]

SCORE_BINS = 20
"""Equal-width score bins of the score distributions over [0, 1]."""


@dataclass(frozen=True)
class BacktestNumbers:
    """Everything the JSON file holds, before serialization."""

    time_range: TimeRange
    spec: FeatureSpec
    review: float
    decline: float
    k: int
    keep_known_compromised: bool
    stats: ReadStats
    rows: EvaluationRows
    results: Sequence[ModelResult]


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _alerts(report: ThresholdReport) -> dict[str, JsonValue]:
    per_day: JsonValue = [{"day": day, "alerts": count} for day, count in report.alerts_per_day or ()]
    return {
        "threshold": report.threshold,
        "alerts": report.alerts,
        "alerts_per_day_mean": _number(report.alerts_per_day_mean),
        "alerts_per_day": per_day,
    }


def _threshold(report: ThresholdReport, scenarios: dict[int, float] | None) -> dict[str, JsonValue]:
    recalls: JsonValue = None
    if scenarios is not None:
        recalls = {str(scenario): _number(recall) for scenario, recall in sorted(scenarios.items())}
    return {
        **_alerts(report),
        "frauds_alerted": report.frauds_alerted,
        "precision": _number(report.precision),
        "recall": _number(report.recall),
        "recall_by_scenario": recalls,
        "fraud_amount_caught": _number(report.fraud_amount_caught),
        "fraud_amount_missed": _number(report.fraud_amount_missed),
    }


def _distribution(result: ModelResult) -> dict[str, JsonValue]:
    edges = np.linspace(0.0, 1.0, SCORE_BINS + 1)
    scores, fraud = np.clip(result.evaluated_scores, 0.0, 1.0), result.evaluated_fraud
    return {
        "bin_edges": [round(edge, 6) for edge in edges.tolist()],
        "fraud": np.histogram(scores[fraud], bins=edges)[0].tolist(),
        "genuine": np.histogram(scores[~fraud], bins=edges)[0].tolist(),
    }


def _model(result: ModelResult) -> dict[str, JsonValue]:
    loaded = result.model.loaded
    return {
        "ref": str(result.model.ref),
        "name": loaded.name,
        "version": loaded.version,
        "artifact_digest": loaded.artifact_digest,
        "review": result.evaluation.as_dict(),
        "decline": _threshold(result.decline, result.decline_recall_by_scenario),
        "alert_volume": {name: _alerts(report) for name, report in result.alert_volume.items()},
        "score_distribution": _distribution(result),
    }


def _counted(counter: Counter[str]) -> dict[str, JsonValue]:
    return {"total": sum(counter.values()), "by_reason": {reason: counter[reason] for reason in sorted(counter)}}


def _read(stats: ReadStats) -> dict[str, JsonValue]:
    read: dict[str, JsonValue] = {
        kind: {
            "records": stats.records[kind],
            "invalid": _counted(stats.invalid[kind]),
            "duplicates": stats.duplicates[kind],
        }
        for kind in ("transactions", "labels")
    }
    read["transactions_outside_replay"] = stats.outside_window
    read["labels_before_transaction"] = stats.labels_before_transaction
    read["labels_ahead_of_stream"] = stats.labels_ahead
    return read


def results_document(numbers: BacktestNumbers) -> dict[str, JsonValue]:
    """The JSON document of ``numbers`` (plain JSON types, fixed key order)."""
    window, stats, rows = numbers.time_range, numbers.stats, numbers.rows
    data = rows.data
    evaluated = rows.evaluated
    return {
        "range": {
            "from": iso(window.start_ms),
            "to": iso(window.end_ms),
            "replay_from": iso(window.replay_from_ms(numbers.spec)),
            "first_day": window.first_day,
            "last_day": window.last_day,
        },
        "feature_spec_digest": numbers.spec.digest,
        "thresholds": {"review": numbers.review, "decline": numbers.decline},
        "card_precision_k": numbers.k,
        "amount_unit": "cents",
        "known_compromised_cards": "kept" if numbers.keep_known_compromised else "left out",
        "read": _read(stats),
        "rows": {
            "replayed": len(data.day),
            "in_range": int(rows.in_range.sum()),
            "labelled_in_range": int((rows.in_range & data.labelled).sum()),
            "known_compromised": int(rows.known_compromised.sum()),
            "evaluated": int(evaluated.sum()),
            "frauds_evaluated": int(data.is_fraud[evaluated].sum()),
            "fraud_amount_evaluated": int(rows.amount_cents[evaluated & data.is_fraud].sum()),
        },
        "models": [_model(result) for result in numbers.results],
    }


def write_json(path: Path, document: dict[str, JsonValue]) -> None:
    """Write ``document`` as indented UTF-8 JSON (ending with a newline), atomically."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
