"""The trainer service's accounting: events read, retrain triggers and results, drift retrains."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import numpy as np
import pytest

from fraudcore.features.definition import DAY_MS, TxFacts
from fraudcore.kafka_bulk_reading import ValueBatch
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.examples import example_label, example_transaction
from schemas.topics import Topics
from tests.unit.trainer.twins import FakeClock, MemoryModelEvents, model_event, retrain_report
from trainer.history import FUTURE_TOLERANCE_MS, Snapshot
from trainer.metrics import Trigger
from trainer.service import NotEnoughHistory, RetrainReport, Trainer
from trainer.training import TrainingConfig

TOPICS = Topics()


class _ScriptedTrainer(Trainer):
    """A trainer whose retrains return or raise what the test says (no MLflow, no Kafka)."""

    def __init__(self, settings: Settings, outcome: RetrainReport | Exception, clock: FakeClock) -> None:
        super().__init__(settings, TOPICS, _no_mlflow, TrainingConfig(), clock=clock)
        self.outcome = outcome
        self.announced: list[str] = []

    def retrain_on(self, snapshot: Snapshot) -> RetrainReport:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def announce(self, report: RetrainReport) -> None:
        self.announced.append(report.registered.version)
        raise ConnectionError("broker gone")


def _no_mlflow() -> NoReturn:
    raise AssertionError("no MLflow in unit tests")


def _trainer(outcome: RetrainReport | Exception | None = None, **settings: object) -> _ScriptedTrainer:
    """A scripted trainer (by default, its retrains find the history too short)."""
    scripted = NotEnoughHistory("not yet") if outcome is None else outcome
    return _ScriptedTrainer(Settings(**settings), scripted, FakeClock())  # type: ignore[arg-type]


def _value(trainer: Trainer, name: str, **labels: str) -> float | None:
    return trainer.metrics.registry.get_sample_value(name, labels)


def _retrains(trainer: Trainer, trigger: Trigger, result: str) -> float | None:
    return _value(trainer, "fraudstream_trainer_retrains_total", trigger=trigger, result=result)


def _feed(trainer: Trainer, transactions: int, labels: int, days: float = 0.0) -> None:
    """Transactions (the last ``days`` later) and labels, as Kafka records, plus one invalid record each."""
    base = example_transaction()
    start = len(trainer.history)
    values = [
        encode(
            base.model_copy(
                update={"transaction_id": f"tx{start + i}", "event_time": base.event_time + timedelta(days=days)}
            )
        )
        for i in range(transactions)
    ]
    trainer._absorb(TOPICS.transactions, [*values, b"{"])
    label = example_label()
    labelled = [encode(label.model_copy(update={"transaction_id": f"tx{start + i}"})) for i in range(labels)]
    trainer._absorb(TOPICS.labels, [*labelled, None])


def test_records_are_counted_by_kind_and_outcome_and_the_window_size_is_exported() -> None:
    trainer = _trainer()
    _feed(trainer, transactions=3, labels=2)
    assert _value(trainer, "fraudstream_trainer_events_total", kind="transaction", outcome="accepted") == 3
    assert _value(trainer, "fraudstream_trainer_events_total", kind="transaction", outcome="invalid") == 1
    assert _value(trainer, "fraudstream_trainer_events_total", kind="label", outcome="accepted") == 2
    assert _value(trainer, "fraudstream_trainer_events_total", kind="label", outcome="invalid") == 1
    assert _value(trainer, "fraudstream_trainer_history_transactions") == 3


def test_label_corrections_are_counted() -> None:
    trainer = _trainer()
    _feed(trainer, transactions=2, labels=2)
    assert _value(trainer, "fraudstream_trainer_label_corrections_total") == 0
    label = example_label().model_copy(update={"transaction_id": "tx0"})
    later = label.model_copy(
        update={"is_fraud": not label.is_fraud, "labeled_at": label.labeled_at + timedelta(hours=12)}
    )
    trainer._absorb(TOPICS.labels, [encode(later), encode(label)])
    assert _value(trainer, "fraudstream_trainer_label_corrections_total") == 1


def test_triggers_follow_the_schedule_once_caught_up() -> None:
    trainer = _trainer(trainer_retrain_every_labels=5, trainer_retrain_every_days=2)
    _feed(trainer, transactions=3, labels=3)
    assert trainer.next_trigger() is None  # not caught up yet
    trainer.caught_up = True
    assert trainer.next_trigger() == "catch_up"
    with pytest.raises(NotEnoughHistory):
        trainer.retrain("catch_up")
    assert _retrains(trainer, "catch_up", "skipped") == 1
    assert trainer.next_trigger() is None
    _feed(trainer, transactions=5, labels=5)
    assert trainer.next_trigger() == "labels"
    trainer.retrain_on = lambda snapshot: retrain_report(promoted=False)  # type: ignore[method-assign]
    trainer.retrain("labels")
    _feed(trainer, transactions=10, labels=1, days=3)  # the bulk of the traffic moves the clock
    assert trainer.history.clock_ms - trainer._clock_at_last_retrain >= 2 * DAY_MS
    assert trainer.next_trigger() == "days"


async def test_a_drift_alarm_calls_for_a_retrain_when_enabled() -> None:
    trainer = _trainer(trainer_retrain_on_drift=True)
    trainer.caught_up = True
    source = MemoryModelEvents([model_event(), model_event()])
    source.close()
    await trainer._watch_drift(source)
    assert trainer.next_trigger() == "drift"  # before any schedule: no labels at all
    assert _value(trainer, "fraudstream_trainer_drift_alarms_total", signal="features") == 2

    off = _trainer()
    off.caught_up = True
    source = MemoryModelEvents([model_event()])
    source.close()
    await off._watch_drift(source)
    assert off.next_trigger() is None


async def test_a_promotion_records_the_models_and_the_champion_even_if_the_broadcast_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trainer = _trainer(retrain_report(promoted=True, version="5", previous="4"))
    _feed(trainer, transactions=2, labels=2)
    report = await trainer._retrain_and_announce("drift")
    assert report is not None
    assert trainer.announced == ["5"]
    assert "reload event was not published" in caplog.text
    assert _retrains(trainer, "drift", "promoted") == 1
    assert _value(trainer, "fraudstream_trainer_champion_info", model="fraud", version="5") == 1
    assert _value(trainer, "fraudstream_trainer_last_retrain_timestamp_seconds") == FakeClock().now
    assert _value(trainer, "fraudstream_trainer_retrain_seconds_count") == 1
    challenger = report.outcome.folds[0].challenger
    for role in ("challenger", "champion", "baseline"):
        assert _value(trainer, "fraudstream_trainer_model_metric", role=role, metric="auc_roc") is not None
    assert (
        _value(trainer, "fraudstream_trainer_model_metric", role="challenger", metric="average_precision")
        == challenger.average_precision
    )


async def test_kept_and_failed_retrains_are_counted_and_the_trainer_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    kept = _trainer(retrain_report(promoted=False, version="6", previous="4"))
    assert await kept._retrain_and_announce("days") is not None
    assert _retrains(kept, "days", "kept") == 1
    assert _value(kept, "fraudstream_trainer_champion_info", model="fraud", version="4") == 1

    failing = _trainer(RuntimeError("MLflow is down"))
    caplog.set_level(logging.ERROR)
    assert await failing._retrain_and_announce("labels") is None
    assert "the retrain (trigger labels) failed" in caplog.text
    assert _retrains(failing, "labels", "failed") == 1
    assert _value(failing, "fraudstream_trainer_last_retrain_timestamp_seconds") == 0


def test_a_forged_future_transaction_prunes_nothing_and_is_counted_when_dropped() -> None:
    trainer = _trainer()
    for day in range(0, 40, 2):
        _feed(trainer, transactions=5, labels=0, days=day)
    forged = example_transaction().model_copy(
        update={"transaction_id": "forged", "event_time": datetime(2026, 12, 8, tzinfo=UTC)}
    )
    trainer._absorb(TOPICS.transactions, [encode(forged)])
    late = example_transaction().model_copy(update={"transaction_id": "late"})  # behind the clock, still usable
    trainer._absorb(TOPICS.transactions, [encode(late)])
    trainer._snapshot()  # prunes as a retrain does
    assert len(trainer.history) == 20 * 5 + 1
    dropped = "fraudstream_trainer_dropped_events_total"
    assert _value(trainer, dropped, kind="transaction", reason="ahead") == 1
    assert _value(trainer, dropped, kind="transaction", reason="stale") == 0
    stale = example_transaction().model_copy(
        update={"transaction_id": "stale", "event_time": example_transaction().event_time - timedelta(days=40)}
    )
    trainer._absorb(TOPICS.transactions, [encode(stale)])
    assert _value(trainer, dropped, kind="transaction", reason="stale") == 1
    assert _value(trainer, "fraudstream_trainer_events_total", kind="transaction", outcome="accepted") == 103


def test_a_poll_of_several_partitions_sets_the_clock_at_their_latest_times_not_their_middle() -> None:
    """Catching up, one poll holds days of each partition: read partition by partition, a median
    clock would sit days behind the stream's present and the prequential windows with it."""
    trainer = _trainer()
    base = example_transaction()
    per_day = 10_000 / 30

    def partition(index: int) -> ValueBatch:
        values: list[bytes | None] = [
            encode(
                base.model_copy(
                    update={
                        "transaction_id": f"p{index}-{i}",
                        "event_time": base.event_time + timedelta(days=i / per_day),
                    }
                )
            )
            for i in range(10_000)
        ]
        return ValueBatch(TOPICS.transactions, index, values, np.arange(100, 10_100, dtype=np.int64))

    read = trainer._absorb_all([partition(p) for p in (0, 1)])
    assert read == 20_000
    assert trainer.positions == {(TOPICS.transactions, 0): 10_100, (TOPICS.transactions, 1): 10_100}
    elapsed_days = (trainer.history.clock_ms - TxFacts.of(base).event_time_ms) / DAY_MS
    assert 26 < elapsed_days < 30  # the median of the latest 4,096 of 20,000 spread over 30 days: day 27


def test_one_far_ahead_time_does_not_set_its_partition_front() -> None:
    """Catching up, a partition whose latest time runs ahead of the others pauses; one forged or
    skewed transaction dated ahead must not hold it paused until the others end (by then the clock
    has passed its transactions, which would be stale)."""
    trainer = _trainer()
    base = example_transaction()

    def transaction(index: int, days: float) -> bytes | None:
        moved = base.model_copy(
            update={"transaction_id": f"t{index}", "event_time": base.event_time + timedelta(days=days)}
        )
        return encode(moved)

    honest = [transaction(i, i / 1_000) for i in range(1_000)]
    forged = [*honest[:999], transaction(10_000, 300)]  # one transaction 300 days ahead
    offsets = np.arange(1_000, dtype=np.int64)
    trainer._absorb_all([ValueBatch(TOPICS.transactions, 0, honest, offsets)])
    trainer._absorb_all([ValueBatch(TOPICS.transactions, 1, forged, offsets)])
    fronts = trainer._fronts
    assert fronts[TOPICS.transactions, 1] <= trainer.history.clock_ms + FUTURE_TOLERANCE_MS
    assert fronts[TOPICS.transactions, 1] - fronts[TOPICS.transactions, 0] <= FUTURE_TOLERANCE_MS
