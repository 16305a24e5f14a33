"""The trainer's history: idempotent per transaction, the latest label wins, pruned behind the clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from fraudcore.event_clock import EventClock
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, LabelFacts, TxFacts
from schemas.events import Label, Transaction
from schemas.examples import example_label, example_transaction
from trainer.history import History


def _tx(index: int, days: float = 0, prefix: str = "tx") -> Transaction:
    base = example_transaction()
    return base.model_copy(
        update={"transaction_id": f"{prefix}{index}", "event_time": base.event_time + timedelta(days=days)}
    )


def _bulk(history: History, days: float, n: int = 9) -> None:
    """The bulk of the traffic at ``days`` (ids ``bulk<n>``): it sets the stream clock there."""
    history.add_transactions([_tx(len(history) + i, days, prefix="bulk") for i in range(n)])


def _ids(items: list[TxFacts] | list[LabelFacts]) -> list[str]:
    return [item.transaction_id for item in items if item.transaction_id.startswith("tx")]


def _label(index: int, is_fraud: bool = True, days: float = 7) -> Label:
    base = example_label()
    return base.model_copy(
        update={
            "transaction_id": f"tx{index}",
            "is_fraud": is_fraud,
            "labeled_at": base.labeled_at + timedelta(days=days),
        }
    )


def test_redelivered_transactions_and_older_labels_change_nothing() -> None:
    history = History()
    history.add_transaction(_tx(1))
    history.add_transaction(_tx(1))
    history.add_transaction(_tx(1, days=3))  # the same id with other facts: counted, ignored
    assert history.conflicts == 1
    _bulk(history, days=7)
    assert history.add_label(_label(1, is_fraud=True))
    assert not history.add_label(_label(1, is_fraud=True))  # a redelivery
    assert not history.add_label(_label(1, is_fraud=False, days=6))  # older
    assert not history.add_label(_label(1, is_fraud=False))  # same labeled_at: fraud wins
    snapshot = history.snapshot()
    assert _ids(snapshot.transactions()) == ["tx1"]
    (label,) = snapshot.labels()
    assert label.is_fraud
    assert history.labels_received == 1


def test_a_later_label_corrects_the_trainers_label() -> None:
    history = History()
    history.add_transaction(_tx(1))
    _bulk(history, days=9)
    assert history.add_label(_label(1, is_fraud=False, days=2))
    assert [label.is_fraud for label in history.snapshot().labels()] == [False]
    assert history.add_label(_label(1, is_fraud=True, days=9))  # the chargeback
    assert [label.is_fraud for label in history.snapshot().labels()] == [True]
    assert (history.labels_received, history.label_corrections) == (2, 1)


def test_labels_dated_before_their_transaction_are_left_out() -> None:
    history = History()
    history.add_transaction(_tx(1, days=10))
    history.add_label(_label(1, days=5))
    assert history.snapshot().labels() == []


def test_labels_of_unseen_transactions_are_bounded() -> None:
    history = History(max_held_labels=3)
    _bulk(history, days=7)
    assert [history.add_label(_label(index)) for index in range(5)] == [True, True, True, False, False]
    assert history.refused_labels == 2
    history.add_transaction(_tx(0))  # its label is no longer held: room for another
    assert history.add_label(_label(7))
    assert _ids(history.snapshot().labels()) == ["tx0"]


def test_the_snapshot_is_in_event_time_order_and_keeps_only_labels_of_known_transactions() -> None:
    history = History()
    for index, days in ((2, 2.0), (0, 0.0), (1, 1.0)):
        history.add_transaction(_tx(index, days))
    _bulk(history, days=7)
    history.add_label(_label(1))
    history.add_label(_label(9))  # its transaction has not arrived
    snapshot = history.snapshot()
    assert _ids(snapshot.transactions()) == ["tx0", "tx1", "tx2"]
    assert _ids(snapshot.labels()) == ["tx1"]


def test_pruning_forgets_old_transactions_with_their_labels() -> None:
    history = History()
    history.add_transaction(_tx(0, 0))
    history.add_transaction(_tx(1, 10))
    _bulk(history, days=17)
    history.add_label(_label(0))
    history.add_label(_label(1, days=17))
    pruned = history.prune(history.snapshot().transactions()[1].event_time_ms)
    assert pruned == 1
    snapshot = history.snapshot()
    assert _ids(snapshot.transactions()) == ["tx1"]
    assert _ids(snapshot.labels()) == ["tx1"]


FORGED_FUTURE = datetime(2026, 12, 8, tzinfo=UTC)
"""What the decoder's one-day tolerance lets a forger send: years ahead of the replayed stream."""


def test_one_forged_future_transaction_moves_no_clock_and_prunes_no_history() -> None:
    history = History()
    for day in range(20):
        _bulk(history, days=day)
    clock = history.clock_ms
    forged = _tx(0, prefix="forged").model_copy(update={"event_time": FORGED_FUTURE})
    history.add_transactions([forged, *(_tx(100 + i, 19.5) for i in range(3))])
    assert abs(history.clock_ms - clock) < DAY_MS
    assert history.prune(history.clock_ms - 30 * DAY_MS) == 0  # the service's pruning: nothing honest goes
    assert len(history) == 20 * 9 + 3
    assert history.pruned_ahead == 1  # the forged one, years ahead, does not stay forever


def test_a_forged_future_genuine_label_does_not_beat_the_real_chargeback() -> None:
    history = History()
    history.add_transaction(_tx(1))
    _bulk(history, days=7)
    forged = _label(1, is_fraud=False).model_copy(update={"labeled_at": FORGED_FUTURE})
    assert not history.add_label(forged)  # it waits for a clock that never comes
    assert history.add_label(_label(1, is_fraud=True))  # the chargeback, read after it
    assert [(label.transaction_id, label.is_fraud) for label in history.snapshot().labels()] == [("tx1", True)]
    assert history.waiting_labels == 1
    history.prune(history.clock_ms - 30 * DAY_MS)
    assert (history.waiting_labels, history.pruned_labels) == (0, 1)
    assert [label.is_fraud for label in history.snapshot().labels()] == [True]


def test_a_label_ahead_of_the_transactions_waits_for_the_clock_and_then_counts() -> None:
    history = History()
    assert not history.add_label(_label(1, days=7))  # read before any transaction (catch-up order)
    history.prune(0)  # a retrain before any transaction (a drift alarm): without a clock, nothing is "ahead"
    history.add_transaction(_tx(1))
    assert history.labels_received == 0
    assert history.waiting_labels == 1
    _bulk(history, days=7)
    assert (history.labels_received, history.waiting_labels) == (1, 0)
    assert _ids(history.snapshot().labels()) == ["tx1"]


def test_a_label_within_a_day_of_the_clock_is_taken_at_once() -> None:
    history = History()
    _bulk(history, days=7)
    assert history.add_label(_label(1, days=7.7))  # 23 hours ahead of the bulk's time: clock skew
    assert not history.add_label(_label(2, days=8.5))
    assert history.waiting_labels == 1


def test_transactions_older_than_the_features_can_use_are_counted_not_added() -> None:
    history = History()
    _bulk(history, days=60)
    usable_days = DEFAULT_SPEC.usable_age_ms / DAY_MS
    assert not history.add_transaction(_tx(1, days=60 - usable_days - 1))
    assert history.add_transaction(_tx(2, days=60 - usable_days + 1))
    assert (history.stale_transactions, _ids(history.snapshot().transactions())) == (1, ["tx2"])


def test_honest_traffic_after_a_quiet_weekend_is_kept() -> None:
    history = History()
    for day in range(10):
        _bulk(history, days=day)
    clock = history.clock_ms
    history.add_transactions([_tx(i, days=12.5) for i in range(3)])  # Monday morning, ahead of the clock
    assert history.clock_ms < clock + DAY_MS
    history.prune(history.clock_ms - 30 * DAY_MS)
    assert _ids(history.snapshot().transactions()) == ["tx0", "tx1", "tx2"]


def test_held_and_waiting_labels_of_unknown_ids_are_pruned_relative_to_the_clock() -> None:
    history = History(clock=EventClock(window=45))  # the last five days of bulk set the clock
    _bulk(history, days=2)
    history.add_label(_label(1, days=2))  # held: its transaction never comes
    for day in range(3, 60):
        _bulk(history, days=day)
    history.add_label(_label(2, days=57))  # held, recent: kept
    history.add_label(_label(3, days=59 + 50))  # waiting, absurdly ahead
    history.add_label(_label(4, days=59 + 3))  # waiting, plausible
    history.prune(history.clock_ms - 30 * DAY_MS)
    assert history.pruned_labels == 2
    assert history.waiting_labels == 1
    assert history.labels_received == 2  # tx1 and tx2; tx1 is gone
    for day in range(60, 65):
        _bulk(history, days=day)
    assert (history.labels_received, history.waiting_labels) == (3, 0)


def _counters(history: History) -> tuple[int, ...]:
    return (
        len(history),
        history.conflicts,
        history.labels_received,
        history.label_corrections,
        history.refused_labels,
        history.held_labels,
        history.id_collisions,
    )


def test_batches_judge_each_event_as_one_at_a_time_does() -> None:
    """Redeliveries, conflicts, corrections, held labels and their bound within one batch."""
    rng = random.Random(7)
    base_tx, base_label = example_transaction(), example_label()
    events: list[Transaction | Label] = []
    for _ in range(3_000):
        index = rng.randrange(400)
        if rng.random() < 0.5:
            minutes = index if rng.random() < 0.9 else rng.randrange(600)  # mostly redeliveries, some conflicts
            events.append(
                base_tx.model_copy(
                    update={
                        "transaction_id": f"tx{index}",
                        "event_time": base_tx.event_time + timedelta(minutes=minutes),
                        "customer_id": str(index % 37),
                    }
                )
            )
        else:
            events.append(
                base_label.model_copy(
                    update={
                        "transaction_id": f"tx{index}",
                        "is_fraud": rng.random() < 0.5,
                        "labeled_at": base_label.labeled_at + timedelta(minutes=rng.randrange(5)),
                    }
                )
            )
    one_by_one, batched = History(max_held_labels=40), History(max_held_labels=40)
    one_by_one.add_events(events, batch_size=1)
    batched.add_events(events, batch_size=500)
    assert _counters(batched) == _counters(one_by_one)
    assert min(one_by_one.refused_labels, one_by_one.conflicts, one_by_one.label_corrections) > 0
    assert batched.snapshot().transactions() == one_by_one.snapshot().transactions()
    assert batched.snapshot().labels() == one_by_one.snapshot().labels()
