"""What the trainer remembers: the transactions and labels of its horizon, in event-time order.

The rules are the feature store's (:mod:`fraudcore.features.definition`): a transaction id keeps
its first content (a copy with other facts is counted in :attr:`History.conflicts` and ignored);
per transaction the label with the latest ``labeled_at`` wins (fraud over genuine at equal
``labeled_at``), so a chargeback after a "genuine" label corrects it and an older label arriving
late changes nothing; a label dated before its transaction's event time is left out of the
snapshot.

Event times and ``labeled_at`` come from producers outside the trust boundary, so the stream clock
is the scorer's: :class:`~fraudcore.event_clock.EventClock`, the median of the recent transaction
event times, which a minority of forged times cannot move (one definition). It observes each batch
in event-time order: when reading the topics from the beginning, one batch holds days of several
partitions, and its latest times, not its middle ones, are the stream's present. Against that clock:

- A transaction more than the features' usable age (:attr:`FeatureSpec.usable_age_ms`) behind the
  clock is not added (counted in :attr:`History.stale_transactions`), as the scorer dead-letters it.
- A transaction ahead of the clock is kept: after an idle gap (a quiet weekend) honest traffic is
  ahead of a median clock until it is the bulk of the window. It does not move the clock by itself
  and it prunes nothing; it lies after the last test day, so no fold trains or tests on it until
  the clock reaches its day. At pruning, one dated more than the usable age ahead of the clock goes
  (counted in :attr:`History.pruned_ahead`): nothing honest is that far ahead of the bulk, and a
  forged one would otherwise stay forever.
- A label dated more than the decoder's future tolerance (:attr:`DecodePolicy.future_tolerance`,
  one day) ahead of the clock, or read before any transaction, is not taken: it waits until the
  clock comes within the tolerance (when reading the topics, labels often run ahead of the
  transactions). So a forged "genuine" label dated in the future cannot win the latest-label rule
  over a real chargeback. Waiting labels are bounded like held ones (beyond the bound they are
  counted in :attr:`History.refused_labels` and dropped) and, at pruning, those dated more than the
  usable age ahead of the clock are dropped (counted in :attr:`History.pruned_labels`).
- Labels of transactions not seen yet are held up to a bound (the feature store's, by default;
  beyond it they are counted in :attr:`History.refused_labels` and dropped); at pruning, those
  dated before the horizon or more than the usable age ahead of the clock go (counted in
  :attr:`History.pruned_labels`), so forged labels cannot grow the history without bound.

Limits: half a window of forged transactions dated ahead (2,048 by default, among the last 4,096
or in one large poll, whose latest times the clock takes) moves the clock, as for the scorer. On
honest data the clock sits about half a window behind the newest transaction: minutes of a busy
stream, but days of one with a few hundred transactions a day, and the training windows end that
much earlier.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fraudcore.event_clock import EventClock
from fraudcore.features.buckets import BUCKETS
from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec, LabelFacts, TxFacts, label_wins
from schemas.codec import DEFAULT_POLICY
from schemas.events import Label, Transaction

__all__ = ["FUTURE_TOLERANCE_MS", "History", "Snapshot"]

FUTURE_TOLERANCE_MS = int(DEFAULT_POLICY.future_tolerance.total_seconds() * 1000)
"""How far ahead of the stream clock a label is taken: the decoder's tolerance for clock skew."""


@dataclass(frozen=True)
class Snapshot:
    """A frozen copy of the history: transactions sorted by (event time, id), their labels (the
    winning label of each, when dated at or after its transaction)."""

    transactions: list[TxFacts]
    scenarios: npt.NDArray[np.int8]
    """Simulated fraud scenario per transaction (-1 when unknown)."""
    labels: list[LabelFacts]
    clock_ms: int


class History:
    """Transactions and labels received so far, pruned to a horizon behind the stream clock."""

    def __init__(
        self,
        max_held_labels: int = BUCKETS * DEFAULT_SPEC.held_labels_per_bucket,
        spec: FeatureSpec = DEFAULT_SPEC,
        clock: EventClock | None = None,
    ) -> None:
        self._transactions: dict[str, tuple[TxFacts, int]] = {}
        self._labels: dict[str, LabelFacts] = {}
        self._held: set[str] = set()
        """Ids of the labels whose transaction has not been seen."""
        self._waiting: list[tuple[int, int, LabelFacts]] = []
        """Labels dated too far ahead of the clock: a heap by ``labeled_at`` (then arrival)."""
        self._arrivals = itertools.count()
        self._clock = clock or EventClock()
        self.spec = spec
        self.max_held_labels = max_held_labels
        self.refused_labels = 0
        """Labels dropped on arrival: the bound of held or waiting labels was reached."""
        self.pruned_labels = 0
        """Held or waiting labels dropped at pruning (before the horizon, or absurdly ahead)."""
        self.stale_transactions = 0
        """Transactions not added: older than the features can use behind the clock."""
        self.pruned_ahead = 0
        """Transactions dropped at pruning because dated more than the usable age ahead of the clock."""
        self.labels_received = 0
        """Labels that were new or corrected an earlier one."""
        self.label_corrections = 0
        self.conflicts = 0
        """Transactions whose id was seen before with other facts (ignored)."""

    def __len__(self) -> int:
        return len(self._transactions)

    @property
    def clock_ms(self) -> int:
        """The stream clock (epoch ms; 0 before the first transaction)."""
        now = self._clock.now_ms
        return 0 if now is None else now

    @property
    def waiting_labels(self) -> int:
        """Labels dated ahead of the clock, waiting for it."""
        return len(self._waiting)

    def add_transaction(self, transaction: Transaction) -> bool:
        """:meth:`add_transactions` of one."""
        return self.add_transactions([transaction]) == 1

    def add_transactions(self, transactions: Sequence[Transaction]) -> int:
        """Move the clock with a batch's event times, then remember each transaction that is not
        too old for the features (the first copy of an id wins); how many were not too old."""
        facts = [TxFacts.of(transaction) for transaction in transactions]
        self._clock.observe(sorted(f.event_time_ms for f in facts))
        oldest = self.clock_ms - self.spec.usable_age_ms
        usable = 0
        for transaction, f in zip(transactions, facts, strict=True):
            if f.event_time_ms < oldest:
                self.stale_transactions += 1
                continue
            usable += 1
            seen = self._transactions.get(f.transaction_id)
            if seen is not None:
                self.conflicts += seen[0] != f
                continue
            scenario = -1 if transaction.fraud_scenario is None else transaction.fraud_scenario
            self._transactions[f.transaction_id] = (f, scenario)
            self._held.discard(f.transaction_id)
        self._take_due()
        return usable

    def add_events(self, events: Iterable[Transaction | Label], batch_size: int = 1_000) -> None:
        """Add transactions and labels in the order given, consecutive transactions in batches of
        up to ``batch_size`` (as read from the topics)."""
        for is_transaction, run in itertools.groupby(events, key=lambda event: isinstance(event, Transaction)):
            if not is_transaction:
                for label in run:
                    assert isinstance(label, Label)
                    self.add_label(label)
                continue
            pending: list[Transaction] = []
            for transaction in run:
                assert isinstance(transaction, Transaction)
                pending.append(transaction)
                if len(pending) == batch_size:
                    self.add_transactions(pending)
                    pending = []
            self.add_transactions(pending)

    def add_label(self, label: Label) -> bool:
        """Remember a label (per transaction the latest ``labeled_at`` wins); whether it changed the
        transaction's label (new, or a correction). A label too far ahead of the clock waits (see
        the module docstring) and changes nothing yet."""
        facts = LabelFacts.of(label)
        if self._clock.now_ms is None or facts.labeled_at_ms > self.clock_ms + FUTURE_TOLERANCE_MS:
            if len(self._waiting) >= self.max_held_labels:
                self.refused_labels += 1
            else:
                heapq.heappush(self._waiting, (facts.labeled_at_ms, next(self._arrivals), facts))
            return False
        return self._take(facts)

    def _take_due(self) -> None:
        """Take the waiting labels the clock has come close enough to."""
        limit = self.clock_ms + FUTURE_TOLERANCE_MS
        while self._waiting and self._waiting[0][0] <= limit:
            self._take(heapq.heappop(self._waiting)[2])

    def _take(self, facts: LabelFacts) -> bool:
        tx_id = facts.transaction_id
        held = self._labels.get(tx_id)
        if held is not None and not label_wins(facts, held):
            return False
        if tx_id not in self._transactions and held is None:
            if len(self._held) >= self.max_held_labels:
                self.refused_labels += 1
                return False
            self._held.add(tx_id)
        self._labels[tx_id] = facts
        self.labels_received += 1
        self.label_corrections += held is not None
        return True

    def prune(self, keep_from_ms: int) -> int:
        """Forget transactions (and their labels) older than ``keep_from_ms``; also what is dated
        more than the usable age ahead of the clock (see the module docstring). How many
        transactions went for their age."""
        now = self._clock.now_ms  # None: nothing read yet, no clock to judge "ahead" by
        keep_until = np.iinfo(np.int64).max if now is None else now + self.spec.usable_age_ms
        old = [tx_id for tx_id, (facts, _) in self._transactions.items() if facts.event_time_ms < keep_from_ms]
        ahead = [tx_id for tx_id, (facts, _) in self._transactions.items() if facts.event_time_ms > keep_until]
        for tx_id in old + ahead:
            del self._transactions[tx_id]
            self._labels.pop(tx_id, None)
        self.pruned_ahead += len(ahead)
        orphans = [
            tx_id
            for tx_id, label in self._labels.items()
            if tx_id not in self._transactions and not keep_from_ms <= label.labeled_at_ms <= keep_until
        ]
        for tx_id in orphans:
            del self._labels[tx_id]
            self._held.discard(tx_id)
        waiting = [entry for entry in self._waiting if entry[0] <= keep_until]
        self.pruned_labels += len(orphans) + len(self._waiting) - len(waiting)
        heapq.heapify(waiting)
        self._waiting = waiting
        return len(old)

    def snapshot(self) -> Snapshot:
        """The history as sorted columns, for one training run."""
        rows = sorted(self._transactions.values(), key=lambda row: (row[0].event_time_ms, row[0].transaction_id))
        known = self._transactions
        return Snapshot(
            transactions=[facts for facts, _ in rows],
            scenarios=np.array([scenario for _, scenario in rows], dtype=np.int8),
            labels=[
                label
                for tx_id, label in self._labels.items()
                if tx_id in known and label.labeled_at_ms >= known[tx_id][0].event_time_ms
            ],
            clock_ms=self.clock_ms,
        )
