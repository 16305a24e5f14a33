"""The bundled evaluation: same values as the single metrics, stable JSON, MLflow-ready headline."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import numpy.typing as npt

from fraudcore.evaluation import (
    Evaluation,
    auc_roc,
    average_precision,
    card_precision_at_k,
    evaluate,
    recall_by_scenario,
    threshold_report,
)
from fraudcore.features.definition import DAY_MS

# MLflow's rule for metric keys: alphanumerics, underscores, dashes, periods, spaces and slashes.
MLFLOW_KEY = re.compile(r"^[\w\-. /]+$")


def _data(rows: int = 3_000, seed: int = 0) -> dict[str, npt.NDArray[Any]]:
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < 0.05
    return {
        "is_fraud": fraud,
        "scores": np.round(rng.random(rows) * 0.7 + fraud * 0.3, 3),
        "day": np.sort(rng.integers(0, 10 * DAY_MS, rows)) // DAY_MS,
        "customer": np.array([f"C{n:03d}" for n in rng.integers(0, 200, rows)]),
        "scenario": np.where(fraud, rng.integers(1, 4, rows), 0),
        "amounts": np.round(rng.gamma(2.0, 30.0, rows), 2),
    }


def _evaluate(data: dict[str, npt.NDArray[Any]], **options: Any) -> Evaluation:
    return evaluate(
        data["is_fraud"],
        data["scores"],
        day=data["day"],
        customer=data["customer"],
        scenario=data["scenario"],
        amounts=data["amounts"],
        **options,
    )


def test_bundles_the_single_metrics() -> None:
    data = _data()
    result = _evaluate(data, threshold=0.6, k=20)
    fraud, scores = data["is_fraud"], data["scores"]
    assert result.transactions == len(fraud)
    assert result.frauds == int(fraud.sum())
    assert result.auc_roc == auc_roc(fraud, scores)
    assert result.average_precision == average_precision(fraud, scores)
    assert result.card_precision == card_precision_at_k(data["day"], data["customer"], fraud, scores, k=20)
    assert result.recall_by_scenario == recall_by_scenario(data["scenario"], scores >= 0.6)
    assert result.threshold == threshold_report(fraud, scores, 0.6, amounts=data["amounts"], day=data["day"])


def test_scenario_and_amounts_are_optional() -> None:
    data = _data()
    result = evaluate(data["is_fraud"], data["scores"], day=data["day"], customer=data["customer"])
    assert result.recall_by_scenario is None
    assert result.threshold.fraud_amount_caught is None
    as_dict = result.as_dict()
    assert as_dict["recall_by_scenario"] is None


def test_as_dict_serialises_identically_for_identical_inputs() -> None:
    first = json.dumps(_evaluate(_data()).as_dict(), allow_nan=False)
    second = json.dumps(_evaluate(_data()).as_dict(), allow_nan=False)
    assert first == second


def test_as_dict_is_plain_json_in_a_fixed_key_order() -> None:
    as_dict = _evaluate(_data()).as_dict()
    assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
    assert list(as_dict) == [
        "transactions",
        "frauds",
        "auc_roc",
        "average_precision",
        "card_precision",
        "recall_by_scenario",
        "threshold",
    ]
    assert list(as_dict["card_precision"]) == ["k", "mean", "per_day"]  # type: ignore[arg-type]
    scenarios = as_dict["recall_by_scenario"]
    assert isinstance(scenarios, dict)
    assert list(scenarios) == ["1", "2", "3"]
    assert list(as_dict["threshold"]) == [  # type: ignore[arg-type]
        "threshold",
        "alerts",
        "frauds_alerted",
        "precision",
        "recall",
        "alerts_per_day_mean",
        "alerts_per_day",
        "fraud_amount_caught",
        "fraud_amount_missed",
    ]


def test_undefined_metrics_serialise_as_null() -> None:
    genuine_only = evaluate(
        np.zeros(4, dtype=np.int64),
        np.array([0.1, 0.2, 0.3, 0.4]),
        day=np.array([0, 0, 1, 1]),
        customer=np.array([1, 2, 1, 2]),
        scenario=np.zeros(4, dtype=np.int64),
        amounts=np.array([1.0, 2.0, 3.0, 4.0]),
    )
    text = json.dumps(genuine_only.as_dict(), allow_nan=False)
    as_dict = json.loads(text)
    assert as_dict["auc_roc"] is None
    assert as_dict["average_precision"] is None
    assert as_dict["recall_by_scenario"] == {}
    assert as_dict["threshold"]["precision"] is None
    assert as_dict["threshold"]["recall"] is None
    assert as_dict["threshold"]["fraud_amount_caught"] == 0.0


def test_headline_names_are_mlflow_metric_keys_with_k() -> None:
    headline = _evaluate(_data(), k=50).headline()
    assert list(headline) == ["auc_roc", "average_precision", "card_precision_at_50"]
    assert all(MLFLOW_KEY.match(key) for key in headline)
    assert all(isinstance(value, float) for value in headline.values())
