"""The benchmark's data and the naive scorer's view of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from bench.config import BenchConfig
from bench.naive_scorer import facts_of
from bench.workload import Workload
from fraudcore.features.definition import FEATURE_NAMES, TxFacts
from schemas.codec import Decoded, decode_label, decode_transaction

NOW = datetime.now(UTC)


def test_the_backlog_holds_encoded_transactions_their_labels_and_features() -> None:
    workload = Workload(BenchConfig(customers=200, terminals=400))
    backlog = workload.backlog(1_000)
    assert len(backlog.transactions) == 1_000
    assert len(backlog.labels) == 1_000  # every transaction is labelled, some before the backlog ends
    assert backlog.matrix.shape == (1_000, len(FEATURE_NAMES))
    assert backlog.is_fraud.dtype == np.bool_
    first = decode_transaction(backlog.transactions[0].value, now=NOW)
    assert isinstance(first, Decoded)
    assert backlog.transactions[0].key == first.event.customer_id.encode()
    assert backlog.first_event == first.event.event_time <= backlog.last_event
    assert isinstance(decode_label(backlog.labels[0].value, now=NOW), Decoded)


def test_more_transactions_continue_the_stream() -> None:
    workload = Workload(BenchConfig(customers=200, terminals=400))
    backlog = workload.backlog(100)
    more = workload.more(50)
    ids = [record.transaction_id for record in [*backlog.transactions, *more]]
    assert len(more) == 50
    assert ids == sorted(ids)
    assert len(set(ids)) == 150


def test_the_naive_scorer_computes_the_same_facts_as_the_decoder() -> None:
    for record in Workload(BenchConfig(customers=200, terminals=400)).backlog(300).transactions:
        decoded = decode_transaction(record.value, now=NOW)
        assert isinstance(decoded, Decoded)
        assert facts_of(json.loads(record.value)) == TxFacts.of(decoded.event)
