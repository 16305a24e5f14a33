"""What the trainer remembers: the transactions and labels of its horizon, in event-time order.

Redelivered transactions and labels are idempotent (keyed by transaction id; the first label
stands, as in the feature store). The stream clock is the latest transaction event time seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fraudcore.features.definition import LabelFacts, TxFacts
from schemas.events import Label, Transaction

__all__ = ["History", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """A frozen copy of the history: transactions sorted by (event time, id), their labels."""

    transactions: list[TxFacts]
    scenarios: npt.NDArray[np.int8]
    """Simulated fraud scenario per transaction (-1 when unknown)."""
    labels: list[LabelFacts]
    clock_ms: int


class History:
    """Transactions and labels received so far, pruned to a horizon behind the stream clock."""

    def __init__(self) -> None:
        self._transactions: dict[str, tuple[TxFacts, int]] = {}
        self._labels: dict[str, LabelFacts] = {}
        self.clock_ms = 0
        self.labels_received = 0

    def __len__(self) -> int:
        return len(self._transactions)

    def add_transaction(self, transaction: Transaction) -> None:
        """Remember a transaction (the first copy of an id wins)."""
        if transaction.transaction_id in self._transactions:
            return
        facts = TxFacts.of(transaction)
        scenario = -1 if transaction.fraud_scenario is None else transaction.fraud_scenario
        self._transactions[facts.transaction_id] = (facts, scenario)
        self.clock_ms = max(self.clock_ms, facts.event_time_ms)

    def add_label(self, label: Label) -> bool:
        """Remember a label (the first one per transaction stands); whether it was new."""
        if label.transaction_id in self._labels:
            return False
        self._labels[label.transaction_id] = LabelFacts.of(label)
        self.labels_received += 1
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
        return len(old)

    def snapshot(self) -> Snapshot:
        """The history as sorted columns, for one training run."""
        rows = sorted(self._transactions.values(), key=lambda row: (row[0].event_time_ms, row[0].transaction_id))
        known = self._transactions.keys()
        return Snapshot(
            transactions=[facts for facts, _ in rows],
            scenarios=np.array([scenario for _, scenario in rows], dtype=np.int8),
            labels=[label for tx_id, label in self._labels.items() if tx_id in known],
            clock_ms=self.clock_ms,
        )
