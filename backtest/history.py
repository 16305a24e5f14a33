"""The history a backtest replays, collected from raw topic records.

Every record is decoded with the consumers' strict decoder; an invalid one is counted under its
reason code and skipped (the live scorer would dead-letter it). A transaction id seen again keeps
the copy with the lowest ``(partition, offset)``: the first the topic delivered, whatever order the
partitions are read in (the scorer dead-letters a later copy with other facts). Per transaction the
label with the latest ``labeled_at`` wins (fraud over genuine at equal ``labeled_at``), as in the
feature store and the trainer: a correction replaces an earlier label. Transactions outside the
replay window (the range plus the features' look-back) are dropped; labels are kept for the
transactions kept, when dated at or after their transaction (the scorer refuses the others).

A label dated more than the features' usable age ahead of the stream's event-time clock (the
scorer's :class:`~fraudcore.event_clock.EventClock` over the latest event times read, whatever the
order the partitions were read in, which a minority of forged times cannot move) takes no part in
"the latest label wins" (counted in
:attr:`ReadStats.labels_ahead`): in a stream replayed years behind the wall clock, a forged
"genuine" label dated "today" would otherwise replace a real chargeback as the ground truth. The
bound is the usable age rather than the trainer's one day because the read stops at the topics'
end, where honest labels keep coming for a label delay after the last transactions.

Read records are held as columns (Arrow strings for ids, int64 times and cents), decoded in bulk
(:mod:`fraudcore.columnar.decoding`); the rules above are applied once, vectorized, when the
:class:`History` is built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fraudcore.columnar.decoding import decode_labels, decode_transactions
from fraudcore.event_clock import EventClock
from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec, LabelFacts, TxFacts

__all__ = ["NEVER", "Collector", "History", "ReadStats"]

_CLOCK_WINDOW: Final = 4096
"""Event times the stream clock is the median of (the scorer's default window)."""

NEVER: Final = np.iinfo(np.int64).max
"""The label time of a transaction without a label."""

_Ints = npt.NDArray[np.int64]


@dataclass
class ReadStats:
    """What reading the topics found, per topic kind (``transactions``, ``labels``)."""

    records: Counter[str] = field(default_factory=Counter)
    invalid: dict[str, Counter[str]] = field(default_factory=lambda: {"transactions": Counter(), "labels": Counter()})
    """Invalid records per topic kind and reason code."""
    duplicates: Counter[str] = field(default_factory=Counter)
    outside_window: int = 0
    """Valid transactions whose event time lies outside the replay window."""
    labels_ahead: int = 0
    """Labels dated more than the features' usable age ahead of the stream's clock (left out)."""
    labels_before_transaction: int = 0
    """Labels of kept transactions dated before their transaction's event time (left out)."""
    first_event_ms: int | None = None
    """Earliest event time of a valid transaction read (inside the window or not)."""
    last_event_ms: int | None = None
    """Latest event time of a valid transaction read."""


@dataclass(frozen=True, eq=False)
class History:
    """The transactions of the replay window as columns sorted by (event time, id), and their labels."""

    transaction_id: pa.Array
    customer_id: pa.Array
    terminal_id: pa.Array
    customer: _Ints
    """Customer codes (equal id, equal code)."""
    terminal: _Ints
    event_time_ms: _Ints
    amount_cents: _Ints
    scenarios: npt.NDArray[np.int8]
    """Simulated fraud scenario per transaction (-1 when unknown)."""
    labeled_at_ms: _Ints
    """When the transaction's winning label was given (:data:`NEVER`: none)."""
    is_fraud: npt.NDArray[np.bool_]
    """Whether its winning label says fraud (False without a label)."""

    def __len__(self) -> int:
        return len(self.event_time_ms)

    @cached_property
    def transactions(self) -> list[TxFacts]:
        """The rows as facts (for a feature store's replay)."""
        return self.facts(np.arange(len(self)))

    def facts(self, rows: _Ints) -> list[TxFacts]:
        """The given rows as facts, in the order given (for the verdicts of the rows in range)."""
        return [
            TxFacts(*row)
            for row in zip(
                self.transaction_id.take(rows).to_pylist(),
                self.customer_id.take(rows).to_pylist(),
                self.terminal_id.take(rows).to_pylist(),
                self.event_time_ms[rows].tolist(),
                self.amount_cents[rows].tolist(),
                strict=True,
            )
        ]

    @cached_property
    def labels(self) -> dict[str, LabelFacts]:
        """The label of each transaction that has one, by transaction id."""
        rows = np.flatnonzero(self.labeled_at_ms != NEVER)
        ids = self.transaction_id.take(rows).to_pylist()
        return {
            tx_id: LabelFacts(tx_id, fraud, at)
            for tx_id, fraud, at in zip(
                ids, self.is_fraud[rows].tolist(), self.labeled_at_ms[rows].tolist(), strict=True
            )
        }


class Collector:
    """Decodes, dedupes and filters records into a :class:`History`."""

    def __init__(
        self, window_start_ms: int, window_end_ms: int, now: datetime, spec: FeatureSpec = DEFAULT_SPEC
    ) -> None:
        self.window_start_ms = window_start_ms
        self.window_end_ms = window_end_ms
        self.now = now
        self.spec = spec
        self.stats = ReadStats()
        self._latest = np.empty(0, dtype=np.int64)
        """The latest ``_CLOCK_WINDOW`` transaction event times read."""
        self._transactions: list[pa.RecordBatch] = []
        self._labels: list[pa.RecordBatch] = []

    def add_transactions(self, partition: int, values: Sequence[bytes | None], offsets: npt.ArrayLike) -> None:
        """Collect records of one partition of the transactions topic: their values and offsets."""
        columns, rejected = decode_transactions(values, now=self.now)
        self.stats.records["transactions"] += len(values)
        self.stats.invalid["transactions"].update(rejection.reason_code.value for _, rejection in rejected)
        times = columns.event_time_ms
        if not len(times):
            return
        self._keep_latest(times)
        self._seen(int(times.min()), int(times.max()))
        inside = np.flatnonzero((times >= self.window_start_ms) & (times < self.window_end_ms))
        self.stats.outside_window += len(times) - len(inside)
        offsets = np.asarray(offsets, dtype=np.int64)
        self._transactions.append(
            pa.record_batch(
                {
                    "partition": np.full(len(inside), partition, dtype=np.int64),
                    "offset": offsets[columns.index[inside]],
                    "transaction_id": columns.transaction_id.take(inside),
                    "customer_id": columns.customer_id.take(inside),
                    "terminal_id": columns.terminal_id.take(inside),
                    "event_time_ms": times[inside],
                    "amount_cents": columns.amount_cents[inside],
                    "scenario": columns.scenario[inside],
                }
            )
        )

    def add_labels(self, partition: int, values: Sequence[bytes | None], offsets: npt.ArrayLike) -> None:
        """Collect records of one partition of the labels topic: their values and offsets (unused:
        which label wins does not depend on the read order)."""
        columns, rejected = decode_labels(values, now=self.now)
        self.stats.records["labels"] += len(values)
        self.stats.invalid["labels"].update(rejection.reason_code.value for _, rejection in rejected)
        self._labels.append(
            pa.record_batch(
                {
                    "transaction_id": columns.transaction_id,
                    "is_fraud": columns.is_fraud,
                    "labeled_at_ms": columns.labeled_at_ms,
                }
            )
        )

    def _keep_latest(self, times: _Ints) -> None:
        latest = np.concatenate((self._latest, times))
        if len(latest) > _CLOCK_WINDOW:
            latest = np.partition(latest, len(latest) - _CLOCK_WINDOW)[-_CLOCK_WINDOW:]
        self._latest = latest

    def _seen(self, first: int, last: int) -> None:
        stats = self.stats
        if stats.first_event_ms is None or first < stats.first_event_ms:
            stats.first_event_ms = first
        if stats.last_event_ms is None or last > stats.last_event_ms:
            stats.last_event_ms = last

    def _label_limit(self) -> int | None:
        clock = EventClock(_CLOCK_WINDOW)
        clock.observe(np.sort(self._latest).tolist())
        now = clock.now_ms
        return None if now is None else now + self.spec.usable_age_ms

    def history(self) -> History:
        """The collected history (transactions sorted by event time, then id)."""
        transactions = _table(self._transactions, _TRANSACTION_SCHEMA)
        labels = _table(self._labels, _LABEL_SCHEMA)
        # one code per distinct id, transactions' first: their ids are the codes below `distinct`
        n = transactions.num_rows
        ids = [*transactions["transaction_id"].chunks, *labels["transaction_id"].chunks]
        codes = _codes(pa.chunked_array(ids, type=pa.string()))
        tx_codes, label_codes = codes[:n], codes[n:]
        distinct = int(tx_codes.max()) + 1 if n else 0
        self.stats.duplicates["transactions"] = n - distinct
        rows = None if distinct == n else _first_copies(tx_codes, transactions)
        times = transactions["event_time_ms"].to_numpy()
        if rows is not None:
            times = times[rows]
        order = _by_time_then_id(times, transactions, rows)
        kept = order if rows is None else rows[order]
        transactions = transactions.take(kept)
        times = times[order]
        row_of_code = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.int64)
        row_of_code[tx_codes[kept]] = np.arange(len(kept))
        labeled_at, is_fraud = self._winning_labels(labels, label_codes, row_of_code[label_codes], times)
        return History(
            transaction_id=transactions["transaction_id"].combine_chunks(),
            customer_id=transactions["customer_id"].combine_chunks(),
            terminal_id=transactions["terminal_id"].combine_chunks(),
            customer=_codes(transactions["customer_id"]),
            terminal=_codes(transactions["terminal_id"]),
            event_time_ms=times,
            amount_cents=transactions["amount_cents"].to_numpy(),
            scenarios=transactions["scenario"].to_numpy(),
            labeled_at_ms=labeled_at,
            is_fraud=is_fraud,
        )

    def _winning_labels(
        self, labels: pa.Table, label_codes: _Ints, label_rows: _Ints, times: _Ints
    ) -> tuple[_Ints, npt.NDArray[np.bool_]]:
        """Per transaction (event ``times``), its latest label not dated too far ahead of the clock nor
        before it; ``label_rows``: each label's transaction row (-1: none kept)."""
        self.stats.duplicates["labels"] = len(label_codes) - _distinct(label_codes)
        # the labels of the transactions kept, each as (row, key = labeled_at * 2 + is_fraud)
        kept = label_rows >= 0
        rows = label_rows[kept]
        keys = labels["labeled_at_ms"].to_numpy()[kept] * 2
        keys += labels["is_fraud"].to_numpy(zero_copy_only=False)[kept]
        limit = self._label_limit()
        ahead = np.zeros(len(keys), dtype=np.bool_) if limit is None else (keys >> 1) > limit
        self.stats.labels_ahead = _distinct_pairs(rows[ahead], keys[ahead])  # a label read twice is one
        best = np.full(len(times), -1, dtype=np.int64)
        np.maximum.at(best, rows[~ahead], keys[~ahead])
        has = best >= 0
        before = has & ((best >> 1) < times)
        self.stats.labels_before_transaction = int(np.count_nonzero(before))
        has &= ~before
        return np.where(has, best >> 1, NEVER), has & (best & 1 == 1)


_TRANSACTION_SCHEMA: Final = pa.schema(
    [
        ("partition", pa.int64()),
        ("offset", pa.int64()),
        ("transaction_id", pa.string()),
        ("customer_id", pa.string()),
        ("terminal_id", pa.string()),
        ("event_time_ms", pa.int64()),
        ("amount_cents", pa.int64()),
        ("scenario", pa.int8()),
    ]
)
_LABEL_SCHEMA: Final = pa.schema(
    [("transaction_id", pa.string()), ("is_fraud", pa.bool_()), ("labeled_at_ms", pa.int64())]
)


def _table(batches: list[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(batches, schema=schema)


def _codes(values: pa.ChunkedArray) -> _Ints:
    """Codes of ``values`` in order of first appearance (equal string, equal code)."""
    encoded = pc.dictionary_encode(values)
    if not encoded.num_chunks:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(
        [np.asarray(chunk.indices.to_numpy(zero_copy_only=False)) for chunk in encoded.chunks]
    ).astype(np.int64, copy=False)


def _first_copies(codes: _Ints, transactions: pa.Table) -> _Ints:
    """The rows holding the copy with the lowest ``(partition, offset)`` of each id code, ascending
    (only the rows of repeated ids are sorted)."""
    repeated = np.flatnonzero(np.bincount(codes)[codes] > 1)
    offsets = transactions["offset"].to_numpy()[repeated]
    partitions = transactions["partition"].to_numpy()[repeated]
    order = repeated[np.lexsort((offsets, partitions, codes[repeated]))]
    later = np.zeros(len(order), dtype=np.bool_)
    later[1:] = codes[order[1:]] == codes[order[:-1]]
    keep = np.ones(len(codes), dtype=np.bool_)
    keep[order[later]] = False
    return np.flatnonzero(keep)


def _distinct(codes: _Ints) -> int:
    """How many distinct values the non-negative ``codes`` hold."""
    seen = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.bool_)
    seen[codes] = True
    return int(np.count_nonzero(seen))


def _distinct_pairs(first: _Ints, second: _Ints) -> int:
    """How many distinct ``(first, second)`` pairs the two columns hold."""
    if not len(first):
        return 0
    return len(np.unique(np.stack((first, second), axis=1), axis=0))


def _by_time_then_id(times: _Ints, transactions: pa.Table, rows: _Ints | None) -> _Ints:
    """The order of ``times`` (the event times of ``transactions``' ``rows``, all rows when None)
    by event time, then transaction id: a numpy sort of the times, then the ids of the few rows
    that share an event time with another one sorted among themselves."""
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    tied = np.zeros(len(order), dtype=np.bool_)
    same = ordered[1:] == ordered[:-1]
    tied[1:] |= same
    tied[:-1] |= same
    at = np.flatnonzero(tied)
    if len(at):
        chosen = order[at] if rows is None else rows[order[at]]
        ties = pa.table({"event_time_ms": ordered[at], "transaction_id": transactions["transaction_id"].take(chosen)})
        order[at] = order[at][
            pc.sort_indices(
                ties, sort_keys=[("event_time_ms", "ascending"), ("transaction_id", "ascending")]
            ).to_numpy()
        ]
    return order
