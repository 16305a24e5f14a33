"""The in-memory feature store, and the offline features of fact objects.

Pure Python and deterministic: :func:`offline_features` gives the trainer's and the backtest's
features of :class:`TxFacts` and :class:`LabelFacts` (an adapter over the vectorized
:mod:`fraudcore.features.offline`), and unit tests use :class:`MemoryFeatureStore` as the twin of the
Redis store. It mirrors the Redis layout (per-customer, per-terminal and per-terminal fraud histories
sorted by event time, transactions and labels by id, labels of unrecorded transactions held per slot
bucket under the same bound) and prunes exactly like it, so both give the same counts and label
outcomes for the same sequence of calls. There is no wall clock, hence no key expiry.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import ChainMap, Counter
from collections.abc import AsyncGenerator, Callable, MutableMapping, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from fraudcore.features.buckets import bucket_of
from fraudcore.features.codes import factorize
from fraudcore.features.definition import (
    DAY_MS,
    DEFAULT_SPEC,
    Conflict,
    FeatureSpec,
    LabelFacts,
    LabelOutcome,
    TxFacts,
    WindowCounts,
    label_wins,
)
from fraudcore.features.offline import fraud_intervals, offline_feature_matrix

__all__ = ["MemoryFeatureStore", "offline_features"]

_K = TypeVar("_K")
_T = TypeVar("_T")


class _Series:
    """Event times in ascending order, with one integer value each."""

    __slots__ = ("times", "values")

    def __init__(self, times: list[int] | None = None, values: list[int] | None = None) -> None:
        self.times: list[int] = times if times is not None else []
        self.values: list[int] = values if values is not None else []

    def copy(self) -> _Series:
        return _Series(self.times.copy(), self.values.copy())

    def add(self, time: int, value: int) -> None:
        times = self.times
        if not times or times[-1] <= time:  # in order: append
            times.append(time)
            self.values.append(value)
        else:
            at = bisect_right(times, time)
            times.insert(at, time)
            self.values.insert(at, value)

    def remove(self, time: int, value: int) -> None:
        """Drop one entry ``(time, value)``, if held."""
        times, values = self.times, self.values
        for at in range(bisect_left(times, time), bisect_right(times, time)):
            if values[at] == value:
                del times[at], values[at]
                return

    def prune(self, threshold: int) -> None:
        """Drop the entries with time ``<= threshold``."""
        if self.times and self.times[0] <= threshold:
            cut = bisect_right(self.times, threshold)
            del self.times[:cut]
            del self.values[:cut]


class _Tables:
    """The store's state; a fork reads through to its base and copies what it changes."""

    def __init__(self, base: _Tables | None = None) -> None:
        self.txs: MutableMapping[str, TxFacts]
        self.labels: MutableMapping[str, LabelFacts]
        self.customers: MutableMapping[str, _Series]
        """Per customer: event time → amount in cents."""
        self.terminals: MutableMapping[str, list[int]]
        """Per terminal: event times."""
        self.frauds: MutableMapping[str, _Series]
        """Per terminal, its transactions labelled fraud: event time → ``labeled_at``."""
        self.held: MutableMapping[int, dict[str, LabelFacts]]
        """Per slot bucket, the labels of transactions not recorded yet, by transaction id."""
        if base is None:
            self.txs, self.labels, self.customers, self.terminals, self.frauds = {}, {}, {}, {}, {}
            self.held = {}
        else:
            self.txs, self.labels = ChainMap({}, base.txs), ChainMap({}, base.labels)
            self.customers, self.terminals = ChainMap({}, base.customers), ChainMap({}, base.terminals)
            self.frauds, self.held = ChainMap({}, base.frauds), ChainMap({}, base.held)


def _writable(table: MutableMapping[_K, _T], key: _K, new: Callable[[], _T], copy: Callable[[_T], _T]) -> _T:
    """``table[key]``, created if missing; in a fork, a private copy of the base's entry."""
    if isinstance(table, ChainMap):
        local = table.maps[0]
        item = local.get(key)
        if item is None:
            base = table.get(key)
            item = local[key] = new() if base is None else copy(base)
        return item
    item = table.get(key)
    if item is None:
        item = table[key] = new()
    return item


def _new_series() -> _Series:
    return _Series()


def _copy_series(series: _Series) -> _Series:
    return series.copy()


def _new_held() -> dict[str, LabelFacts]:
    return {}


def _copy_held(held: dict[str, LabelFacts]) -> dict[str, LabelFacts]:
    return held.copy()


def _new_times() -> list[int]:
    return []


def _copy_times(times: list[int]) -> list[int]:
    return times.copy()


def _prune_base(t: int, clock_ms: int | None) -> int:
    """What pruning at a transaction's ``t`` is relative to: ``t``, or the stream's clock when earlier."""
    return t if clock_ms is None else min(t, clock_ms)


class MemoryFeatureStore:
    """A :class:`~fraudcore.features.store.FeatureStore` held in process memory."""

    def __init__(self, spec: FeatureSpec = DEFAULT_SPEC) -> None:
        self.spec = spec
        self._tables = _Tables()
        self._customer_windows = [w * DAY_MS for w in spec.customer_windows_days]
        self._terminal_windows = [w * DAY_MS for w in spec.terminal_windows_days]
        self._delay = spec.label_delay_days * DAY_MS
        self.held_labels_dropped = 0

    async def record_transactions(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        return self.record_transactions_sync(batch, clock_ms=clock_ms)

    @property
    def counts_ahead(self) -> bool:
        return False

    async def record_chunks(
        self, chunks: Sequence[Sequence[TxFacts]], *, clock_ms: int | None = None
    ) -> AsyncGenerator[list[WindowCounts | Conflict], None]:
        for chunk in chunks:
            yield self.record_transactions_sync(chunk, clock_ms=clock_ms)

    async def peek_transactions(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        return self.peek_transactions_sync(batch, clock_ms=clock_ms)

    async def record_labels(self, labels: Sequence[LabelFacts], *, clock_ms: int | None = None) -> list[LabelOutcome]:
        return self.record_labels_sync(labels, clock_ms=clock_ms)

    async def close(self) -> None:
        return None

    def record_transactions_sync(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        """:meth:`record_transactions` without the event loop."""
        return [self._record(self._tables, facts, clock_ms) for facts in batch]

    def peek_transactions_sync(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        """:meth:`peek_transactions` without the event loop."""
        fork = _Tables(self._tables)
        return [self._record(fork, facts, clock_ms) for facts in batch]

    def record_labels_sync(self, labels: Sequence[LabelFacts], *, clock_ms: int | None = None) -> list[LabelOutcome]:
        """:meth:`record_labels` without the event loop."""
        return [self._label(label, clock_ms) for label in labels]

    def _label(self, label: LabelFacts, clock_ms: int | None = None) -> LabelOutcome:
        tables, tx_id = self._tables, label.transaction_id
        tx = tables.txs.get(tx_id)
        if tx is None:
            bucket = bucket_of(tx_id.encode())
            held = tables.held.get(bucket, {})
            old = held.get(tx_id)
            if old is not None and not label_wins(label, old):
                return LabelOutcome.UNCHANGED
            if old is None and len(held) >= self.spec.held_labels_per_bucket:
                return LabelOutcome.UNKNOWN_TRANSACTION
            _writable(tables.held, bucket, _new_held, _copy_held)[tx_id] = label
            return LabelOutcome.HELD
        if label.labeled_at_ms < tx.event_time_ms:
            return LabelOutcome.BEFORE_TRANSACTION
        old = tables.labels.get(tx_id)
        if old is not None and not label_wins(label, old):
            return LabelOutcome.UNCHANGED
        tables.labels[tx_id] = label
        if old is not None and old.is_fraud:
            fraud = tables.frauds.get(tx.terminal_id)
            if fraud is not None:
                _writable(tables.frauds, tx.terminal_id, _new_series, _copy_series).remove(
                    tx.event_time_ms, old.labeled_at_ms
                )
        if label.is_fraud:
            self._add_fraud(tables, tx, label, clock_ms)
        return LabelOutcome.NEW if old is None else LabelOutcome.CORRECTED

    def _add_fraud(self, tables: _Tables, tx: TxFacts, label: LabelFacts, clock_ms: int | None) -> None:
        """Add ``tx`` to its terminal's fraud history, pruned relative to its event time (or the clock)."""
        fraud = _writable(tables.frauds, tx.terminal_id, _new_series, _copy_series)
        fraud.add(tx.event_time_ms, label.labeled_at_ms)
        fraud.prune(_prune_base(tx.event_time_ms, clock_ms) - self.spec.terminal_horizon_ms)

    def _record(self, tables: _Tables, facts: TxFacts, clock_ms: int | None = None) -> WindowCounts | Conflict:
        stored = tables.txs.get(facts.transaction_id)
        if stored is not None and stored != facts:
            return Conflict(stored)
        if stored is not None:  # a redelivery
            customer, terminal = stored.customer_id, stored.terminal_id
            return self._counts(
                stored, tables.customers.get(customer), tables.terminals.get(terminal), tables.frauds.get(terminal)
            )
        spec, t = self.spec, facts.event_time_ms
        base = _prune_base(t, clock_ms)
        tables.txs[facts.transaction_id] = facts
        customer_history = _writable(tables.customers, facts.customer_id, _new_series, _copy_series)
        customer_history.add(t, facts.amount_cents)
        customer_history.prune(base - spec.customer_horizon_ms)
        times = _writable(tables.terminals, facts.terminal_id, _new_times, _copy_times)
        if times and times[-1] > t:
            times.insert(bisect_right(times, t), t)
        else:
            times.append(t)
        threshold = base - spec.terminal_horizon_ms
        if times[0] <= threshold:
            del times[: bisect_right(times, threshold)]
        label = tables.labels.get(facts.transaction_id) or self._take_held(tables, facts)
        if label is not None and label.is_fraud:
            self._add_fraud(tables, facts, label, clock_ms)
        return self._counts(facts, customer_history, times, tables.frauds.get(facts.terminal_id))

    def _take_held(self, tables: _Tables, facts: TxFacts) -> LabelFacts | None:
        """The label held for a transaction recorded now, moved to the labels; dropped when dated before it."""
        bucket = bucket_of(facts.transaction_id.encode())
        if facts.transaction_id not in tables.held.get(bucket, {}):
            return None
        label = _writable(tables.held, bucket, _new_held, _copy_held).pop(facts.transaction_id)
        if label.labeled_at_ms < facts.event_time_ms:
            if tables is self._tables:  # not a peek's fork
                self.held_labels_dropped += 1
            return None
        tables.labels[facts.transaction_id] = label
        return label

    def _counts(
        self, facts: TxFacts, customer: _Series | None, terminal: list[int] | None, fraud: _Series | None
    ) -> WindowCounts:
        """The counts of ``facts`` from its customer's, terminal's and terminal's fraud histories."""
        t = facts.event_time_ms
        customer_count, customer_cents = [], []
        times, cents = (customer.times, customer.values) if customer is not None else ([], [])
        hi = len(times) if not times or times[-1] <= t else bisect_right(times, t)
        lo, total = hi, 0
        for window in self._customer_windows:  # increasing: each window extends the previous one
            start = bisect_right(times, t - window, 0, lo)
            total += sum(cents[start:lo])
            lo = start
            customer_count.append(hi - lo)
            customer_cents.append(total)

        end = t - self._delay
        times = terminal or []
        hi = bisect_right(times, end)
        terminal_count = [hi - bisect_right(times, end - window, 0, hi) for window in self._terminal_windows]

        terminal_fraud = [0] * len(self._terminal_windows)
        if fraud is not None:
            times, labeled_at = fraud.times, fraud.values
            hi = bisect_right(times, end)
            for i in range(bisect_right(times, end - self._terminal_windows[-1], 0, hi), hi):
                if labeled_at[i] <= t:
                    for j, window in enumerate(self._terminal_windows):
                        if times[i] > end - window:
                            terminal_fraud[j] += 1
        return WindowCounts(tuple(customer_count), tuple(customer_cents), tuple(terminal_count), tuple(terminal_fraud))


def offline_features(
    transactions: Sequence[TxFacts],
    labels: Sequence[LabelFacts],
    spec: FeatureSpec = DEFAULT_SPEC,
) -> npt.NDArray[np.float64]:
    """The feature matrix of ``transactions`` (rows in their input order), as if replaying transactions
    at their event time and labels at their ``labeled_at`` (labels first at equal times, otherwise input
    order), computed by :func:`~fraudcore.features.offline.offline_feature_matrix`. Transaction ids must
    be unique (``ValueError``); a label of another transaction, or dated before its transaction, never counts."""
    n = len(transactions)
    row_of = {facts.transaction_id: row for row, facts in enumerate(transactions)}
    if len(row_of) != n:
        twice = next(i for i, count in Counter(t.transaction_id for t in transactions).items() if count > 1)
        raise ValueError(f"transaction id {twice!r} appears twice")
    times = np.fromiter((facts.event_time_ms for facts in transactions), dtype=np.int64, count=n)
    frauds = fraud_intervals(
        np.fromiter((row_of.get(label.transaction_id, -1) for label in labels), dtype=np.int64, count=len(labels)),
        np.fromiter((label.is_fraud for label in labels), dtype=np.bool_, count=len(labels)),
        np.fromiter((label.labeled_at_ms for label in labels), dtype=np.int64, count=len(labels)),
        times,
    )
    return offline_feature_matrix(
        times,
        np.fromiter((facts.amount_cents for facts in transactions), dtype=np.int64, count=n),
        factorize([facts.customer_id for facts in transactions]),
        factorize([facts.terminal_id for facts in transactions]),
        frauds,
        spec,
    )
