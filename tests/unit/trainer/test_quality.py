"""The quality benchmark on a tiny simulation: the table and the JSON hold sane metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from fraudcore.model_kind import ModelKind
from trainer.quality import ModelSpec, main

TINY = ["--customers", "300", "--terminals", "600", "--days", "40", "--seed", "3", "--folds", "1"]


def test_a_tiny_run_prints_the_table_and_writes_sane_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "quality.json"
    assert main([*TINY, "--models", "logistic", "--json", str(out)]) == 0

    lines = capsys.readouterr().out.splitlines()
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"model", "`logistic`", "baseline: amount", "ceiling: perfect score"}
    assert "±" not in rows["`logistic`"]  # one fold: no spread

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["argv"][-3:] == ["logistic", "--json", str(out)]
    assert report["transactions"]["kept"] == report["transactions"]["simulated"] > 0
    assert len(report["folds"]) == 1
    assert report["folds"][0]["test_rows"] > 0
    (model,) = report["models"]
    assert (model["name"], model["kind"], model["params"]) == ("logistic", "logistic", {})
    assert len(model["folds"]) == 1
    assert model["std"]["average_precision"] is None
    mean, baseline = model["mean"], report["baseline"]["mean"]
    assert 0.5 < mean["auc_roc"] <= 1.0
    assert report["transactions"]["fraud_rate"] < mean["average_precision"] <= 1.0  # better than chance
    assert 0.0 < baseline["average_precision"] < 1.0
    ceiling = report["ceiling"]["mean"]["card_precision_at_100"]
    assert 0.0 < mean["card_precision_at_100"] <= ceiling <= 1.0
    assert model["seconds_per_fold"] >= 0.0


def test_model_specs_parse_kinds_and_hyperparameters() -> None:
    spec = ModelSpec.parse("forest:max_depth=none,class_weight=balanced,n_estimators=50,bootstrap=true")
    assert spec.kind is ModelKind.FOREST
    assert spec.params == {"max_depth": None, "class_weight": "balanced", "n_estimators": 50, "bootstrap": True}
    assert spec.label == "forest:max_depth=none,class_weight=balanced,n_estimators=50,bootstrap=true"
    assert ModelSpec.parse("boosting:learning_rate=0.05").params == {"learning_rate": 0.05}
    assert ModelSpec.parse("logistic").label == "logistic"


@pytest.mark.parametrize("text", ["trees", "boosting:learning_rate", "boosting:no_such_parameter=1"])
def test_bad_model_specs_are_rejected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        ModelSpec.parse(text)
