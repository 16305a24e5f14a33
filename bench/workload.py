"""The benchmark's data: one simulated stream (the producer's simulator), encoded once with the
project's codec and keyed as the producer keys it, so every variant reads the same bytes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from bench.config import BenchConfig
from fraudcore.features.definition import DEFAULT_SPEC, LabelFacts, TxFacts
from fraudcore.features.memory import offline_features
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.codec import encode
from schemas.events import Label, Transaction
from schemas.topics import key_for

__all__ = ["Backlog", "Record", "Workload"]


class Record(NamedTuple):
    """One encoded event as it goes to Kafka, and the transaction it is about."""

    key: bytes | None
    value: bytes
    transaction_id: str


@dataclass(frozen=True)
class Backlog:
    """The first transactions of the stream, what their features are offline and their labels."""

    transactions: list[Record]
    labels: list[Record]
    matrix: npt.NDArray[np.float64]
    """Offline features (the scorer's definition replayed) of the transactions, in order."""
    is_fraud: npt.NDArray[np.bool_]
    first_event: datetime
    last_event: datetime


class Workload:
    """The simulated stream: a backlog first, then as many further transactions as asked for."""

    def __init__(self, config: BenchConfig) -> None:
        start = datetime(2018, 4, 1, tzinfo=UTC)
        days = max(30, (datetime.now(UTC) - start).days - 2)  # event times stay in the past
        params = SimulationParams(
            seed=config.seed, n_customers=config.customers, n_terminals=config.terminals, start=start, days=days
        )
        self._stream = SimulatedStream(params, LabelPolicy(delay=timedelta(days=DEFAULT_SPEC.label_delay_days)))
        self._events = self._stream.events()

    def backlog(self, count: int) -> Backlog:
        """The next ``count`` transactions with every label they will get (fraud and genuine)."""
        transactions: list[Transaction] = []
        labels: list[Label] = []
        for event in self._events:
            if isinstance(event, Transaction):
                transactions.append(event)
                if len(transactions) == count:
                    break
            else:
                labels.append(event)
        if len(transactions) < count:
            raise RuntimeError(f"the simulation ended after {len(transactions)} transactions")
        labels += self._stream.pending_labels()
        matrix = offline_features([TxFacts.of(t) for t in transactions], [LabelFacts.of(label) for label in labels])
        return Backlog(
            transactions=[_record(t) for t in transactions],
            labels=[_record(label) for label in labels],
            matrix=matrix,
            is_fraud=np.array([t.fraud_scenario != 0 for t in transactions], dtype=np.bool_),
            first_event=transactions[0].event_time,
            last_event=transactions[-1].event_time,
        )

    def more(self, count: int) -> list[Record]:
        """The next ``count`` transactions (their labels are left out)."""
        return [_record(t) for t in _take_transactions(self._events, count)]


def _take_transactions(events: Iterator[Transaction | Label], count: int) -> Iterator[Transaction]:
    taken = 0
    if count <= 0:
        return
    for event in events:
        if isinstance(event, Transaction):
            yield event
            taken += 1
            if taken == count:
                return
    if taken < count:
        raise RuntimeError(f"the simulation ended after {taken} of {count} further transactions")


def _record(event: Transaction | Label) -> Record:
    return Record(key_for(event), encode(event), event.transaction_id)
