"""Simulated transactions become contract events with their labels, delayed, in time order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.codec import encode
from schemas.events import Label, Transaction

SMALL = SimulationParams(seed=5, n_customers=200, n_terminals=400, days=20)


def _events(policy: LabelPolicy | None = None, count: int | None = None) -> list[Transaction | Label]:
    return list(SimulatedStream(SMALL, policy or LabelPolicy()).events(count))


def _time(event: Transaction | Label) -> object:
    return event.event_time if isinstance(event, Transaction) else event.labeled_at


def test_every_transaction_gets_one_label_after_the_delay_and_the_stream_is_time_ordered() -> None:
    events = _events(LabelPolicy(delay=timedelta(days=3)))
    transactions = {e.transaction_id: e for e in events if isinstance(e, Transaction)}
    labels = [e for e in events if isinstance(e, Label)]
    assert len(labels) == len(transactions) > 1000
    for label in labels:
        transaction = transactions[label.transaction_id]
        assert label.labeled_at == transaction.event_time + timedelta(days=3)
        assert label.is_fraud == (transaction.fraud_scenario != 0)
        assert label.customer_id == transaction.customer_id
    times = [_time(e) for e in events]
    assert times == sorted(times)  # type: ignore[type-var]


def test_a_label_is_never_emitted_before_its_transaction() -> None:
    seen: set[str] = set()
    for event in _events(LabelPolicy(delay=timedelta(0))):
        if isinstance(event, Transaction):
            seen.add(event.transaction_id)
        else:
            assert event.transaction_id in seen


def test_the_labelled_fraction_is_respected_and_leaves_the_transactions_unchanged() -> None:
    full = [e for e in _events() if isinstance(e, Transaction)]
    partial = _events(LabelPolicy(fraction=0.25))
    assert [e for e in partial if isinstance(e, Transaction)] == full
    labelled = sum(isinstance(e, Label) for e in partial) / len(full)
    assert 0.22 < labelled < 0.28


def test_a_transaction_limit_still_delivers_the_owed_labels() -> None:
    events = _events(count=300)
    transactions = [e for e in events if isinstance(e, Transaction)]
    labels = [e for e in events if isinstance(e, Label)]
    assert len(transactions) == 300
    assert {label.transaction_id for label in labels} == {t.transaction_id for t in transactions}


def test_stopping_early_leaves_the_owed_labels_collectable() -> None:
    stream = SimulatedStream(SMALL, LabelPolicy())
    taken = [event for _, event in zip(range(50), stream.events(), strict=False)]
    owed = stream.pending_labels()
    assert {label.transaction_id for label in owed} == {e.transaction_id for e in taken}
    assert stream.pending_labels() == []


def test_the_same_seed_gives_the_same_bytes() -> None:
    first = b"".join(encode(e) for e in _events(count=2000))
    second = b"".join(encode(e) for e in _events(count=2000))
    assert first == second
    other = SimulatedStream(SimulationParams(seed=6, n_customers=200, n_terminals=400, days=20), LabelPolicy())
    assert b"".join(encode(e) for e in other.events(2000)) != first


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (lambda: LabelPolicy(delay=timedelta(days=-1)), "must not be negative"),
        (lambda: LabelPolicy(fraction=1.5), "within [0, 1]"),
    ],
)
def test_invalid_label_policies_are_explained(policy: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        policy()  # type: ignore[operator]
