"""A retrain on simulated history: shared features, prequential windows, the gate, the metrics."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import numpy as np
import pytest

from fraudcore.evaluation import NotEnoughData
from fraudcore.event_clock import EventClock
from fraudcore.features.definition import DAY_MS
from fraudcore.model_kind import ModelKind
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.events import Label, Transaction
from trainer.fitting import fit_bundle
from trainer.history import History
from trainer.training import Dataset, TrainingConfig, build_dataset, train_and_evaluate

CONFIG = TrainingConfig(kind=ModelKind.LOGISTIC, train_days=7, test_days=3, folds=2)


@cache
def _dataset() -> Dataset:
    history = History(clock=EventClock(window=256))  # hours of this small stream, as 4,096 are of a real one
    params = SimulationParams(seed=4, n_customers=400, n_terminals=800, days=40)
    history.add_events(SimulatedStream(params, LabelPolicy()).events())
    return build_dataset(history.snapshot())


def test_labels_after_the_clock_are_not_known_and_the_last_week_is_unlabelled() -> None:
    data = _dataset()
    last_day = int(data.clock_ms // DAY_MS)
    assert not data.labelled[data.day > last_day - 7].any()
    assert data.labelled[data.day < last_day - 8].all()


def test_windows_follow_the_prequential_protocol() -> None:
    data = _dataset()
    outcome = train_and_evaluate(data, CONFIG, champion=None)
    last_day = int(data.clock_ms // DAY_MS)
    recent, older = (result.fold for result in outcome.folds)
    assert recent.test_last_day == last_day - 7 - 1
    assert recent.test_first_day == recent.test_last_day - 2
    assert recent.train_last_day == recent.test_first_day - 7 - 1
    assert recent.train_first_day == recent.train_last_day - 6
    assert older.test_last_day == recent.test_last_day - 3
    assert outcome.params()["train_first_day"] == recent.train_first_day


def test_the_first_model_is_promoted_when_it_beats_the_amount_baseline() -> None:
    outcome = train_and_evaluate(_dataset(), CONFIG, champion=None)
    recent = outcome.folds[0]
    assert recent.champion is None
    assert outcome.promote, outcome.reason
    assert recent.challenger.average_precision > recent.baseline.average_precision
    metrics = outcome.metrics()
    assert {"challenger_average_precision", "baseline_card_precision_at_100", "mean_auc_roc"} <= set(metrics)
    assert "champion_average_precision" not in metrics


def test_a_champion_as_good_as_the_challenger_is_kept() -> None:
    data = _dataset()
    first = train_and_evaluate(data, CONFIG, champion=None)
    again = train_and_evaluate(data, CONFIG, champion=first.bundle)  # same data, same seed: equal metrics
    assert not again.promote
    assert again.reason.startswith("keep the champion")


def test_a_champion_that_learned_nothing_is_replaced() -> None:
    data = _dataset()
    rng = np.random.default_rng(1)
    noise = fit_bundle(data.matrix[:500], rng.random(500) < 0.5)
    outcome = train_and_evaluate(data, CONFIG, champion=noise)
    assert outcome.promote, outcome.reason


def test_more_folds_than_the_history_holds_is_not_enough_data() -> None:
    with pytest.raises(NotEnoughData, match="fold"):
        train_and_evaluate(
            _dataset(), TrainingConfig(kind=ModelKind.LOGISTIC, train_days=20, test_days=5, folds=3), None
        )


def test_a_fit_that_fails_is_not_taken_for_too_little_data() -> None:
    """The trainer waits for more history on :class:`NotEnoughData` only: an estimator's own error
    (here hyperparameters it refuses) is a failed retrain."""
    with pytest.raises(ValueError, match="max_iter") as failed:
        train_and_evaluate(_dataset(), replace(CONFIG, kind=ModelKind.BOOSTING, params={"max_iter": -1}), None)
    assert not isinstance(failed.value, NotEnoughData)


def test_test_rows_leave_out_cards_known_compromised_since_the_train_window_began() -> None:
    """The handbook's get_train_test_set: a test day's known cards are those with a fraud from the
    first training day to the day one label delay before it (labels here arrive after exactly 7 days)."""
    data = _dataset()
    outcome = train_and_evaluate(data, CONFIG, champion=None)
    for result in outcome.folds:
        fold = result.fold
        expected = np.zeros_like(data.labelled)
        for day in range(fold.test_first_day, fold.test_last_day + 1):
            frauds = data.is_fraud & (data.day >= fold.train_first_day) & (data.day <= day - 7 - 1)
            known = set(data.customer[frauds].tolist())
            expected |= (data.day == day) & data.labelled & ~np.isin(data.customer, list(known))
        testable = data.testable(fold)
        assert np.array_equal(testable, expected)
        assert int(testable.sum()) == result.challenger.transactions
        left_out = fold.test & data.labelled & ~testable
        assert left_out.any()
        assert (data.known_compromised() & fold.test).sum() >= left_out.sum()  # the whole history knows more


def test_an_online_river_model_is_a_kind_the_trainer_fits() -> None:
    outcome = train_and_evaluate(_dataset(), TrainingConfig(kind=ModelKind.ONLINE, train_days=7, test_days=3), None)
    assert type(outcome.bundle.estimator).__name__ == "OnlineLogisticRegression"
    recent = outcome.folds[0]
    assert recent.challenger.auc_roc > recent.baseline.auc_roc


def test_a_forged_future_transaction_and_genuine_label_change_neither_folds_nor_labels() -> None:
    """One forged transaction dated "tomorrow" in wall-clock time amid a replayed history, and a forged
    "genuine" label of the same date read before a real chargeback: the trainer's clock, history,
    folds and labels are those of the honest stream (pruned as the service prunes)."""
    params = SimulationParams(seed=4, n_customers=400, n_terminals=800, days=40)
    honest = list(SimulatedStream(params, LabelPolicy()).events())
    chargeback = next(i for i, e in enumerate(honest) if isinstance(e, Label) and e.is_fraud and i > len(honest) // 2)
    real = honest[chargeback]
    assert isinstance(real, Label)
    tomorrow = datetime(2026, 12, 8, tzinfo=UTC)
    forged_label = real.model_copy(update={"is_fraud": False, "labeled_at": tomorrow})
    first = next(e for e in honest if isinstance(e, Transaction))
    forged_tx = first.model_copy(update={"transaction_id": "forged", "event_time": tomorrow})
    attacked = [*honest[:chargeback], forged_tx, forged_label, *honest[chargeback:]]

    def dataset(events: list[Transaction | Label]) -> Dataset:
        history = History()
        history.add_events(events)
        history.prune(history.clock_ms - CONFIG.horizon_days * DAY_MS)
        return build_dataset(history.snapshot())

    clean, data = dataset(honest), dataset(attacked)
    assert data.clock_ms == clean.clock_ms
    assert np.array_equal(data.matrix, clean.matrix)
    assert np.array_equal(data.is_fraud, clean.is_fraud)
    assert np.array_equal(data.labelled, clean.labelled)
    assert data.is_fraud.sum() > 0
    folds = [[result.fold for result in train_and_evaluate(d, CONFIG, None).folds] for d in (clean, data)]
    assert [(f.train_first_day, f.test_last_day) for f in folds[0]] == [
        (f.train_first_day, f.test_last_day) for f in folds[1]
    ]
