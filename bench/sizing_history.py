"""The sizing bench's history: the producer's simulator, encoded as the producer sends it, in scorer
micro-batches, with what is needed to judge the store's memory afterwards (transactions per day, the
last day each card and terminal paid or was paid, and the records for the trainer's topics).

Events come in time order; each batch carries up to ``batch_size`` transactions of one simulated day
and the labels that came out since the previous batch (due by its last transaction). Labels dated
after the history's end (owed, never due within it) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.sizing_config import SizingConfig
from bench.workload import Record
from fraudcore.features.definition import DEFAULT_SPEC
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.codec import encode
from schemas.events import Label, Transaction
from schemas.topics import key_for
from scorer.scoring import RawMessage

__all__ = ["HISTORY_START", "HistoryBatch", "SimulatedHistory", "id_kind"]

HISTORY_START = datetime(2018, 4, 1, tzinfo=UTC)
"""First simulated day (event times stay in the past, as the decoder requires)."""

_ID_KINDS = (("transaction", re.compile(r"tx\d+")), ("card", re.compile(r"c\d+")), ("terminal", re.compile(r"t\d+")))


def id_kind(entity_id: str) -> str:
    """What a simulated id names: ``transaction``, ``card``, ``terminal``, or ``other``."""
    return next((kind for kind, pattern in _ID_KINDS if pattern.fullmatch(entity_id)), "other")


@dataclass(frozen=True)
class HistoryBatch:
    """One scorer micro-batch: its transactions and the labels due by the last of them (encoded)."""

    day: int
    labels: list[bytes]
    transactions: list[RawMessage]
    last_of_day: bool
    """No further transaction of ``day`` follows (memory is sampled after this batch)."""


@dataclass
class SimulatedHistory:
    """The simulated history of a sizing run, and the tallies taken while it is streamed."""

    config: SizingConfig
    transactions_per_day: list[int] = field(default_factory=list)
    card_last_day: dict[str, int] = field(default_factory=dict)
    terminal_last_day: dict[str, int] = field(default_factory=dict)
    records: list[tuple[bool, Record]] = field(default_factory=list)
    """Every event streamed, in order, as it goes to Kafka: ``(is_label, record)`` (kept only for the
    trainer and the full path)."""
    cut_at_day: dict[int, int] = field(default_factory=dict)
    """Per day: how many events (of :attr:`records`) were streamed by its end."""
    labels_streamed: int = 0
    events_streamed: int = 0

    def batches(self) -> Iterator[HistoryBatch]:
        """The history in micro-batches, in time order."""
        config = self.config
        params = SimulationParams(
            seed=config.seed,
            n_customers=config.customers,
            n_terminals=config.terminals,
            start=HISTORY_START,
            days=config.days,
            mean_tx_per_day=config.tx_per_card_day,
        )
        policy = LabelPolicy(delay=timedelta(days=DEFAULT_SPEC.label_delay_days), fraction=config.label_fraction)
        end = HISTORY_START + timedelta(days=config.days)
        self.transactions_per_day = [0] * config.days
        labels: list[bytes] = []
        transactions: list[RawMessage] = []
        day = 0
        for event in SimulatedStream(params, policy).events():
            if isinstance(event, Label):
                if event.labeled_at < end:
                    labels.append(self._keep(event, is_label=True))
                continue
            event_day = (event.event_time - HISTORY_START) // timedelta(days=1)
            if event_day != day:
                yield self._batch(day, labels, transactions, last_of_day=True)
                self.cut_at_day[day] = self.events_streamed
                labels, transactions, day = [], [], event_day
            transactions.append(self._message(event))
            if len(transactions) == config.batch_size:
                yield self._batch(day, labels, transactions, last_of_day=False)
                labels, transactions = [], []
        yield self._batch(day, labels, transactions, last_of_day=True)
        for past in range(config.days):  # days without any transaction keep the previous cut
            self.cut_at_day.setdefault(past, self.cut_at_day.get(past - 1, 0) if past else 0)
        self.cut_at_day[config.days - 1] = self.events_streamed

    def transactions_since(self, first_day: int) -> int:
        """Transactions streamed on ``first_day`` and after."""
        return sum(self.transactions_per_day[max(first_day, 0) :])

    @staticmethod
    def active(last_day: dict[str, int], first_day: int) -> int:
        """How many entities of ``last_day`` were seen on ``first_day`` or after."""
        return sum(1 for day in last_day.values() if day >= first_day)

    def _batch(
        self, day: int, labels: list[bytes], transactions: list[RawMessage], *, last_of_day: bool
    ) -> HistoryBatch:
        return HistoryBatch(day, labels, transactions, last_of_day)

    def _message(self, transaction: Transaction) -> RawMessage:
        day = (transaction.event_time - HISTORY_START) // timedelta(days=1)
        self.transactions_per_day[day] += 1
        self.card_last_day[transaction.customer_id] = day
        self.terminal_last_day[transaction.terminal_id] = day
        value = self._keep(transaction, is_label=False)
        return RawMessage(key_for(transaction), value, "transactions", 0, self.events_streamed - 1)

    def _keep(self, event: Transaction | Label, *, is_label: bool) -> bytes:
        value = encode(event)
        self.events_streamed += 1
        if self.config.needs_services:
            self.records.append((is_label, Record(key_for(event), value, event.transaction_id)))
        if is_label:
            self.labels_streamed += 1
        return value
