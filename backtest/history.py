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
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from fraudcore.event_clock import EventClock
from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec, LabelFacts, TxFacts, label_wins
from schemas.codec import Decoded, decode_batch
from schemas.events import Label, Transaction

__all__ = ["Collector", "History", "ReadStats", "Record"]

_CLOCK_WINDOW: Final = 4096
"""Event times the stream clock is the median of (the scorer's default window)."""


class Record(Protocol):
    """What the collector needs of a consumed record (aiokafka's ``ConsumerRecord`` has it)."""

    @property
    def offset(self) -> int: ...

    @property
    def value(self) -> bytes | None: ...


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
    """The transactions of the replay window sorted by (event time, id), and their labels."""

    transactions: list[TxFacts]
    scenarios: npt.NDArray[np.int8]
    """Simulated fraud scenario per transaction (-1 when unknown)."""
    labels: dict[str, LabelFacts]
    """The label of each transaction that has one, by transaction id."""


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
        self._latest: list[int] = []
        """A min-heap of the latest ``_CLOCK_WINDOW`` transaction event times read."""
        self._transactions: dict[str, tuple[int, int, TxFacts, int]] = {}
        self._labels: dict[str, set[LabelFacts]] = {}
        """Every distinct label of each transaction id: the winner is chosen once the clock is known."""

    def add_transactions(self, partition: int, records: Iterable[Record]) -> None:
        """Collect records of one partition of the transactions topic."""
        batch = list(records)
        results = decode_batch([record.value for record in batch], Transaction, now=self.now).results
        self.stats.records["transactions"] += len(batch)
        invalid, kept = self.stats.invalid["transactions"], self._transactions
        start, end = self.window_start_ms, self.window_end_ms
        first = last = None
        valid = [TxFacts.of(result.event) for result in results if isinstance(result, Decoded)]
        self._keep_latest(facts.event_time_ms for facts in valid)
        for record, result in zip(batch, results, strict=True):
            if not isinstance(result, Decoded):
                invalid[result.reason_code.value] += 1
                continue
            facts = TxFacts.of(result.event)
            t = facts.event_time_ms
            first = t if first is None or t < first else first
            last = t if last is None or t > last else last
            if not start <= t < end:
                self.stats.outside_window += 1
                continue
            seen = kept.get(facts.transaction_id)
            if seen is not None:
                self.stats.duplicates["transactions"] += 1
                if (seen[0], seen[1]) < (partition, record.offset):
                    continue
            scenario = result.event.fraud_scenario
            kept[facts.transaction_id] = (partition, record.offset, facts, -1 if scenario is None else scenario)
        self._seen(first, last)

    def add_labels(self, partition: int, records: Iterable[Record]) -> None:
        """Collect records of one partition of the labels topic."""
        batch = list(records)
        results = decode_batch([record.value for record in batch], Label, now=self.now).results
        self.stats.records["labels"] += len(batch)
        invalid, kept = self.stats.invalid["labels"], self._labels
        for _record, result in zip(batch, results, strict=True):
            if not isinstance(result, Decoded):
                invalid[result.reason_code.value] += 1
                continue
            facts = LabelFacts.of(result.event)
            seen = kept.setdefault(facts.transaction_id, set())
            if seen:
                self.stats.duplicates["labels"] += 1
            seen.add(facts)

    def _winning_labels(self, times: dict[str, int]) -> dict[str, LabelFacts]:
        """Per transaction of ``times``, its latest label not dated too far ahead of the clock."""
        clock = EventClock(_CLOCK_WINDOW)
        clock.observe(sorted(self._latest))
        now = clock.now_ms
        limit = None if now is None else now + self.spec.usable_age_ms
        winners: dict[str, LabelFacts] = {}
        ahead = 0
        for tx_id in times.keys() & self._labels.keys():
            for label in self._labels[tx_id]:
                if limit is not None and label.labeled_at_ms > limit:
                    ahead += 1
                elif (held := winners.get(tx_id)) is None or label_wins(label, held):
                    winners[tx_id] = label
        self.stats.labels_ahead = ahead
        return winners

    def _keep_latest(self, times: Iterable[int]) -> None:
        latest = self._latest
        for t in times:
            if len(latest) < _CLOCK_WINDOW:
                heapq.heappush(latest, t)
            elif t > latest[0]:
                heapq.heapreplace(latest, t)

    def _seen(self, first: int | None, last: int | None) -> None:
        stats = self.stats
        if first is not None and (stats.first_event_ms is None or first < stats.first_event_ms):
            stats.first_event_ms = first
        if last is not None and (stats.last_event_ms is None or last > stats.last_event_ms):
            stats.last_event_ms = last

    def history(self) -> History:
        """The collected history (transactions sorted by event time, then id)."""
        rows = sorted(self._transactions.values(), key=lambda row: (row[2].event_time_ms, row[2].transaction_id))
        times = {facts.transaction_id: facts.event_time_ms for _, _, facts, _ in rows}
        labels = self._winning_labels(times)
        before = [tx_id for tx_id, label in labels.items() if label.labeled_at_ms < times[tx_id]]
        self.stats.labels_before_transaction = len(before)
        for tx_id in before:
            del labels[tx_id]
        return History(
            transactions=[facts for _, _, facts, _ in rows],
            scenarios=np.array([scenario for _, _, _, scenario in rows], dtype=np.int8),
            labels=labels,
        )
