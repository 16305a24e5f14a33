"""Drift alarms read by the trainer: counted by signal, a retrain at most once per cool-down."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from schemas.enums import ModelEventKind
from scorer.drift_watch import DriftWatch
from scorer.metrics import ScorerMetrics
from tests.unit.scorer.twins import loaded_model
from tests.unit.trainer.twins import FakeClock, model_event
from trainer.drift_trigger import DriftTrigger, alarm_signal
from trainer.metrics import TrainerMetrics


class _AlwaysDrifting:
    """A drift monitor twin that flags everything."""

    def observe(self, matrix: Any, scores: Any) -> bool:
        return True

    def observe_labels(self, is_fraud: Any) -> bool:
        return True

    def psi(self) -> dict[str, float]:
        return {"amount": 0.61}

    def settling(self) -> frozenset[str]:
        return frozenset()


def test_the_signal_is_recognised_in_the_scorers_own_alarm_messages() -> None:
    model = loaded_model("7")
    watch = DriftWatch(ScorerMetrics(), alarm_every_s=0)
    watch._monitor, watch._version = _AlwaysDrifting(), model.version  # type: ignore[assignment]
    batch = np.zeros((1, 1))
    messages = [message for _ in range(10) for message in watch.observe(model, batch, np.zeros(1))]
    messages += watch.observe_labels([True])
    signals = [alarm_signal(message) for message in messages]
    assert set(signals) == {"score", "features", "fraud_rate"}
    assert alarm_signal("something else happened") == "other"


def _count(metrics: TrainerMetrics, signal: str) -> float:
    value = metrics.registry.get_sample_value("fraudstream_trainer_drift_alarms_total", {"signal": signal})
    return value or 0.0


def test_alarms_retrain_at_most_once_per_cool_down_and_the_ignored_ones_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, metrics = FakeClock(), TrainerMetrics()
    trigger = DriftTrigger("fraud", metrics, enabled=True, cooldown_s=3600, clock=clock)
    caplog.set_level(logging.INFO, logger="trainer.drift_trigger")
    assert trigger.observe(model_event())
    clock.now += 3599
    assert not trigger.observe(model_event(message="the live fraud rate changed (ADWIN on arriving labels)"))
    assert "within the cool-down of 3600 s" in caplog.text
    clock.now += 1
    assert trigger.observe(model_event())
    assert _count(metrics, "features") == 2
    assert _count(metrics, "fraud_rate") == 1


def test_when_off_alarms_are_only_counted_and_other_events_are_ignored() -> None:
    metrics = TrainerMetrics()
    trigger = DriftTrigger("fraud", metrics, enabled=False, cooldown_s=0, clock=FakeClock())
    assert not trigger.observe(model_event())
    assert _count(metrics, "features") == 1
    enabled = DriftTrigger("fraud", metrics, enabled=True, cooldown_s=0, clock=FakeClock())
    assert not enabled.observe(model_event(kind=ModelEventKind.PROMOTED))
    assert not enabled.observe(model_event(model_name="another-model"))
    assert not enabled.observe(b"not json")
    assert not enabled.observe(None)
    assert _count(metrics, "features") == 1
