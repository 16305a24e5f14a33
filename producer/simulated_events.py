"""The simulator's rows as contract events: transactions, and their labels arriving later.

Each transaction's label carries ``labeled_at = event_time + label_delay`` (a chargeback that
arrives days later). Events come out in time order: before each transaction, every label already
due by its event time. When the stream stops (end of the simulation or a transaction limit), the
labels still pending follow (or are collected with :meth:`SimulatedStream.pending_labels`), so
every emitted transaction that is to be labelled gets its label.

Identifiers are deterministic: ``tx<index>`` (zero-padded, in emission order), ``c<customer>``
and ``t<terminal>``. With ``label_fraction < 1`` a second generator, seeded from the simulation
seed, draws which transactions get a label; the transaction stream itself is unchanged by it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from producer.simulator import SimulatedDay, SimulationParams, Simulator
from schemas.enums import LabelSource
from schemas.events import Label, Transaction

__all__ = ["LabelPolicy", "SimulatedStream"]

_CURRENCY = "EUR"
_LABEL_SEED_SALT = 0x1ABE1


@dataclass(frozen=True)
class LabelPolicy:
    """When and how often transactions get a label."""

    delay: timedelta = timedelta(days=7)
    fraction: float = 1.0
    """Share of transactions that get a label (fraud and genuine alike)."""

    def __post_init__(self) -> None:
        if self.delay < timedelta(0):
            raise ValueError("the label delay must not be negative")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError("the labelled fraction must be within [0, 1]")


class SimulatedStream:
    """Transactions and their delayed labels in time order; stoppable at any transaction."""

    def __init__(self, params: SimulationParams, labels: LabelPolicy) -> None:
        self.params = params
        self.labels = labels
        self._pending: deque[Label] = deque()

    def events(self, max_transactions: int | None = None) -> Iterator[Transaction | Label]:
        """The stream, at most ``max_transactions`` transactions, then the labels still pending.

        A consumer that stops early instead gets those labels from :meth:`pending_labels`.
        """
        params, pending = self.params, self._pending
        label_rng = np.random.default_rng([params.seed, _LABEL_SEED_SALT])
        emitted = 0
        for day in Simulator(params).days():
            labelled = label_rng.random(len(day)) < self.labels.fraction
            for row, event_time in enumerate(day.event_times(params.start)):
                if max_transactions is not None and emitted >= max_transactions:
                    yield from self.pending_labels()
                    return
                while pending and pending[0].labeled_at <= event_time:
                    yield pending.popleft()
                transaction = self._transaction(emitted, event_time, day, row)
                emitted += 1
                if labelled[row]:  # owed from the moment the transaction is handed out
                    pending.append(self._label(transaction))
                yield transaction
        yield from self.pending_labels()

    def pending_labels(self) -> list[Label]:
        """The labels of emitted transactions not yet yielded (and forget them)."""
        labels = list(self._pending)
        self._pending.clear()
        return labels

    @staticmethod
    def _transaction(index: int, event_time: datetime, day: SimulatedDay, row: int) -> Transaction:
        return Transaction(
            transaction_id=f"tx{index:010d}",
            event_time=event_time,
            customer_id=f"c{int(day.customer[row]):06d}",
            terminal_id=f"t{int(day.terminal[row]):06d}",
            amount=float(day.amount[row]),
            currency=_CURRENCY,
            fraud_scenario=int(day.scenario[row]),
        )

    def _label(self, transaction: Transaction) -> Label:
        return Label(
            transaction_id=transaction.transaction_id,
            is_fraud=bool(transaction.fraud_scenario),
            labeled_at=transaction.event_time + self.labels.delay,
            source=LabelSource.SIMULATED,
            customer_id=transaction.customer_id,
            terminal_id=transaction.terminal_id,
            transaction_time=transaction.event_time,
        )
