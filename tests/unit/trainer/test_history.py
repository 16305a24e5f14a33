"""The trainer's history: idempotent per transaction, the latest label wins, pruned behind the clock."""

from __future__ import annotations

from datetime import timedelta

from schemas.events import Label, Transaction
from schemas.examples import example_label, example_transaction
from trainer.history import History


def _tx(index: int, days: float = 0) -> Transaction:
    base = example_transaction()
    return base.model_copy(
        update={"transaction_id": f"tx{index}", "event_time": base.event_time + timedelta(days=days)}
    )


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
    assert history.add_label(_label(1, is_fraud=True))
    assert not history.add_label(_label(1, is_fraud=True))  # a redelivery
    assert not history.add_label(_label(1, is_fraud=False, days=6))  # older
    assert not history.add_label(_label(1, is_fraud=False))  # same labeled_at: fraud wins
    snapshot = history.snapshot()
    assert len(snapshot.transactions) == 1
    assert snapshot.transactions[0].event_time_ms == history.clock_ms
    (label,) = snapshot.labels
    assert label.is_fraud
    assert history.labels_received == 1


def test_a_later_label_corrects_the_trainers_label() -> None:
    history = History()
    history.add_transaction(_tx(1))
    assert history.add_label(_label(1, is_fraud=False, days=2))
    assert [label.is_fraud for label in history.snapshot().labels] == [False]
    assert history.add_label(_label(1, is_fraud=True, days=9))  # the chargeback
    assert [label.is_fraud for label in history.snapshot().labels] == [True]
    assert (history.labels_received, history.label_corrections) == (2, 1)


def test_labels_dated_before_their_transaction_are_left_out() -> None:
    history = History()
    history.add_transaction(_tx(1, days=10))
    history.add_label(_label(1, days=5))
    assert history.snapshot().labels == []


def test_labels_of_unseen_transactions_are_bounded() -> None:
    history = History(max_held_labels=3)
    assert [history.add_label(_label(index)) for index in range(5)] == [True, True, True, False, False]
    assert history.refused_labels == 2
    history.add_transaction(_tx(0))  # its label is no longer held: room for another
    assert history.add_label(_label(7))
    assert [label.transaction_id for label in history.snapshot().labels] == ["tx0"]


def test_the_snapshot_is_in_event_time_order_and_keeps_only_labels_of_known_transactions() -> None:
    history = History()
    for index, days in ((2, 2.0), (0, 0.0), (1, 1.0)):
        history.add_transaction(_tx(index, days))
    history.add_label(_label(1))
    history.add_label(_label(9))  # its transaction has not arrived
    snapshot = history.snapshot()
    assert [t.transaction_id for t in snapshot.transactions] == ["tx0", "tx1", "tx2"]
    assert [label.transaction_id for label in snapshot.labels] == ["tx1"]


def test_pruning_forgets_old_transactions_with_their_labels() -> None:
    history = History()
    history.add_transaction(_tx(0, 0))
    history.add_transaction(_tx(1, 10))
    history.add_label(_label(0))
    history.add_label(_label(1, days=17))
    pruned = history.prune(history.snapshot().transactions[1].event_time_ms)
    assert pruned == 1
    snapshot = history.snapshot()
    assert [t.transaction_id for t in snapshot.transactions] == ["tx1"]
    assert [label.transaction_id for label in snapshot.labels] == ["tx1"]
