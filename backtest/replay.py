"""Replaying a history into a feature store in event-time order: the backtest's features.

Labels enter at their ``labeled_at`` and transactions at their event time, labels first at equal
times, as :func:`fraudcore.features.memory.offline_features` orders them. To keep the store's round
trips few, transactions go in chunks (at most ``chunk_size`` of them, spanning at most
``chunk_span_ms`` of event time), each preceded by the labels due by its last transaction. That gives
the same features: a label counts for a transaction only when ``labeled_at <= t``, whenever it was
recorded; recording it up to one chunk span early changes only which old history its terminal prunes,
and the features never read that history while the span is within the spec's allowed lateness.
Labels are recorded with their transaction's terminal and event time, so those that come after the
claim horizon (the label delay is often longer) still join.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from backtest.history import History
from fraudcore.features.definition import DAY_MS, FeatureSpec, WindowCounts, counts_only, feature_matrix
from fraudcore.features.store import FeatureStore

__all__ = ["replay"]


async def replay(
    store: FeatureStore,
    history: History,
    spec: FeatureSpec,
    *,
    chunk_size: int = 5_000,
    chunk_span_ms: int = DAY_MS,
    on_progress: Callable[[int], None] = lambda count: None,
) -> npt.NDArray[np.float64]:
    """Record the history's labels and transactions in ``store`` (which must hold none of them yet)
    and return the feature matrix of its transactions, rows in their order."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    span = min(max(chunk_span_ms, 0), spec.allowed_lateness_days * DAY_MS)
    transactions = history.transactions
    times = [facts.event_time_ms for facts in transactions]
    by_id = {facts.transaction_id: facts for facts in transactions}
    labels = sorted(
        (  # each label carries its transaction's terminal and time, as a label producer should send them
            replace(label, terminal_id=tx.terminal_id, event_time_ms=tx.event_time_ms)
            if (tx := by_id.get(label.transaction_id)) is not None
            else label
            for label in history.labels.values()
        ),
        key=lambda label: (label.labeled_at_ms, label.transaction_id),
    )
    labeled_at = [label.labeled_at_ms for label in labels]
    counts: list[WindowCounts] = []
    start = recorded_labels = 0
    while start < len(transactions):
        stop = bisect_right(times, times[start] + span, start, min(len(times), start + chunk_size))
        due = bisect_right(labeled_at, times[stop - 1], recorded_labels)
        if due > recorded_labels:
            await store.record_labels(labels[recorded_labels:due])
            recorded_labels = due
        counts += counts_only(await store.record_transactions(transactions[start:stop]))
        on_progress(stop - start)
        start = stop
    return feature_matrix(transactions, counts, spec)
