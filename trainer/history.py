"""What the trainer remembers: the transactions and labels of its horizon, in event-time order.

The rules are the feature store's (:mod:`fraudcore.features.definition`): a transaction id keeps
its first content (a copy with other facts is counted in :attr:`History.conflicts` and ignored);
per transaction the label with the latest ``labeled_at`` wins (fraud over genuine at equal
``labeled_at``), so a chargeback after a "genuine" label corrects it and an older label arriving
late changes nothing; a label dated before its transaction's event time is left out of the
snapshot. Labels of transactions not seen yet are held up to a bound (the feature store's, by
default): beyond it they are counted in :attr:`History.refused_labels` and dropped, so forged labels
cannot grow the history without bound. The stream clock is the latest transaction event time seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fraudcore.features.buckets import BUCKETS
from fraudcore.features.definition import DEFAULT_SPEC, LabelFacts, TxFacts, label_wins
from schemas.events import Label, Transaction

__all__ = ["History", "Snapshot"]


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

    def __init__(self, max_held_labels: int = BUCKETS * DEFAULT_SPEC.held_labels_per_bucket) -> None:
        self._transactions: dict[str, tuple[TxFacts, int]] = {}
        self._labels: dict[str, LabelFacts] = {}
        self._held: set[str] = set()
        """Ids of the labels whose transaction has not been seen."""
        self.max_held_labels = max_held_labels
        self.refused_labels = 0
        self.clock_ms = 0
        self.labels_received = 0
        """Labels that were new or corrected an earlier one."""
        self.label_corrections = 0
        self.conflicts = 0
        """Transactions whose id was seen before with other facts (ignored)."""

    def __len__(self) -> int:
        return len(self._transactions)

    def add_transaction(self, transaction: Transaction) -> None:
        """Remember a transaction (the first copy of an id wins)."""
        facts = TxFacts.of(transaction)
        seen = self._transactions.get(facts.transaction_id)
        if seen is not None:
            self.conflicts += seen[0] != facts
            return
        scenario = -1 if transaction.fraud_scenario is None else transaction.fraud_scenario
        self._transactions[facts.transaction_id] = (facts, scenario)
        self._held.discard(facts.transaction_id)
        self.clock_ms = max(self.clock_ms, facts.event_time_ms)

    def add_label(self, label: Label) -> bool:
        """Remember a label (per transaction the latest ``labeled_at`` wins); whether it changed the
        transaction's label (new, or a correction)."""
        facts = LabelFacts.of(label)
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
        """Forget transactions (and their labels) older than ``keep_from_ms``; how many went."""
        old = [tx_id for tx_id, (facts, _) in self._transactions.items() if facts.event_time_ms < keep_from_ms]
        for tx_id in old:
            del self._transactions[tx_id]
            self._labels.pop(tx_id, None)
        orphans = [
            tx_id
            for tx_id, label in self._labels.items()
            if label.labeled_at_ms < keep_from_ms and tx_id not in self._transactions
        ]
        for tx_id in orphans:
            del self._labels[tx_id]
            self._held.discard(tx_id)
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
