"""The trainer's metrics: exact names, types and labels (a dashboard is written against them)."""

from __future__ import annotations

import math

from prometheus_client import generate_latest

from trainer.metrics import RESULTS, TRIGGERS, TrainerMetrics


def _exposition(metrics: TrainerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_names_types_and_labels_as_the_dashboard_expects() -> None:
    metrics = TrainerMetrics()
    metrics.record_models({"challenger": {"auc_roc": 0.9, "average_precision": 0.7, "card_precision_at_100": 0.3}})
    metrics.record_champion("fraud", "4")
    metrics.retrain_seconds.observe(12.0)
    text = _exposition(metrics)
    for line in (
        "# TYPE fraudstream_trainer_events_total counter",
        'fraudstream_trainer_events_total{kind="transaction",outcome="accepted"} 0.0',
        'fraudstream_trainer_events_total{kind="label",outcome="invalid"} 0.0',
        "# TYPE fraudstream_trainer_history_transactions gauge",
        "# TYPE fraudstream_trainer_retrains_total counter",
        'fraudstream_trainer_retrains_total{result="promoted",trigger="catch_up"} 0.0',
        'fraudstream_trainer_retrains_total{result="skipped",trigger="drift"} 0.0',
        "# TYPE fraudstream_trainer_retrain_seconds histogram",
        'fraudstream_trainer_retrain_seconds_bucket{le="30.0"} 1.0',
        "# TYPE fraudstream_trainer_model_metric gauge",
        'fraudstream_trainer_model_metric{metric="average_precision",role="challenger"} 0.7',
        'fraudstream_trainer_model_metric{metric="card_precision_at_100",role="challenger"} 0.3',
        "# TYPE fraudstream_trainer_last_retrain_timestamp_seconds gauge",
        'fraudstream_trainer_champion_info{model="fraud",version="4"} 1.0',
        "# TYPE fraudstream_trainer_drift_alarms_total counter",
        'fraudstream_trainer_drift_alarms_total{signal="fraud_rate"} 0.0',
    ):
        assert line in text.splitlines(), line
    series = [line for line in text.splitlines() if line.startswith("fraudstream_trainer_retrains_total{")]
    assert len(series) == len(TRIGGERS) * len(RESULTS)


def test_a_retrain_without_champion_drops_the_champion_series_and_champion_info_keeps_one_version() -> None:
    metrics = TrainerMetrics()
    headline = {"auc_roc": 0.8, "average_precision": 0.5, "card_precision_at_100": math.nan}
    metrics.record_models({"challenger": headline, "champion": headline, "baseline": headline})
    metrics.record_models({"challenger": headline, "champion": None, "baseline": headline})
    text = _exposition(metrics)
    assert 'role="champion"' not in text
    assert 'fraudstream_trainer_model_metric{metric="card_precision_at_100",role="baseline"} NaN' in text

    metrics.record_champion("fraud", "1")
    metrics.record_champion("fraud", "2")
    text = _exposition(metrics)
    assert 'version="1"' not in text
    assert 'fraudstream_trainer_champion_info{model="fraud",version="2"} 1.0' in text
    metrics.record_champion("fraud", None)
    assert "fraudstream_trainer_champion_info{" not in _exposition(metrics)
