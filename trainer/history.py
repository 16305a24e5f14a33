"""What the trainer remembers: the transactions and labels of its horizon, as columns.

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

Storage: one row per transaction in numpy columns (event time and cents as int64, customer and
terminal as int32 codes of a factorizing dictionary, the scenario as int8, the winning label as one
int64), the ids in an Arrow string column and a keyed-hash index (:class:`~fraudcore.columnar.ids.IdIndex`):
about 80 bytes a transaction, twice that just after a column grows. Batches are judged with numpy,
not per transaction; only held and waiting labels (bounded) are Python objects. Two different ids
sharing a keyed 64-bit hash (chance: about one pair in 10^12 among ten million) cannot both be held:
the later one is dropped and counted in :attr:`History.id_collisions`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fraudcore.columnar.codes import Codes
from fraudcore.columnar.decoding import LabelColumns, TransactionColumns, label_columns, transaction_columns
from fraudcore.columnar.ids import NOT_FOUND, IdIndex
from fraudcore.event_clock import EventClock
from fraudcore.features.buckets import BUCKETS
from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec, LabelFacts, TxFacts, label_wins
from schemas.codec import DEFAULT_POLICY
from schemas.events import Label, Transaction

__all__ = ["COUNTERS", "FUTURE_TOLERANCE_MS", "NEVER", "History", "HistoryState", "Snapshot"]

FUTURE_TOLERANCE_MS = int(DEFAULT_POLICY.future_tolerance.total_seconds() * 1000)
"""How far ahead of the stream clock a label is taken: the decoder's tolerance for clock skew."""

NEVER: Final = np.iinfo(np.int64).max
"""The label time of a row without a label."""

_NO_LABEL: Final = -1
"""A row's label key when it has none (keys are ``labeled_at_ms * 2 + is_fraud``, never negative)."""

_MAX_LABEL_TIME: Final = 2**62
"""Label times at or beyond this do not fit a label key."""

COUNTERS: Final = (
    "refused_labels",
    "pruned_labels",
    "stale_transactions",
    "pruned_ahead",
    "labels_received",
    "label_corrections",
    "conflicts",
    "id_collisions",
)
"""The tallies of :class:`History` (attributes of that name) kept with its state."""

_MAX_CHUNKS: Final = 32
"""Id chunks (one per batch) merged into one beyond this, so a lookup stays quick."""

_Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Snapshot:
    """A frozen copy of the history as columns, rows sorted by (event time, id)."""

    transaction_id: pa.Array
    event_time_ms: _Ints
    amount_cents: _Ints
    customer: npt.NDArray[np.int32]
    """Customer codes (equal id, equal code)."""
    terminal: npt.NDArray[np.int32]
    scenarios: npt.NDArray[np.int8]
    """Simulated fraud scenario per transaction (-1 when unknown)."""
    labeled_at_ms: _Ints
    """When the row's winning label was given (:data:`NEVER`: no label, or one dated before the
    transaction, which is left out)."""
    is_fraud: npt.NDArray[np.bool_]
    """Whether the row's winning label says fraud (False without a label)."""
    clock_ms: int

    def __len__(self) -> int:
        return len(self.event_time_ms)

    def transactions(self) -> list[TxFacts]:
        """The rows as facts (customers and terminals named by their codes); for tests and adapters."""
        return [
            TxFacts(tx_id, f"c{customer}", f"t{terminal}", t, cents)
            for tx_id, customer, terminal, t, cents in zip(
                self.transaction_id.to_pylist(),
                self.customer.tolist(),
                self.terminal.tolist(),
                self.event_time_ms.tolist(),
                self.amount_cents.tolist(),
                strict=True,
            )
        ]

    def labels(self) -> list[LabelFacts]:
        """The labels of the rows that have one, as facts; for tests and adapters."""
        rows = np.flatnonzero(self.labeled_at_ms != NEVER)
        return [
            LabelFacts(tx_id, fraud, at)
            for tx_id, fraud, at in zip(
                self.transaction_id.take(rows).to_pylist(),
                self.is_fraud[rows].tolist(),
                self.labeled_at_ms[rows].tolist(),
                strict=True,
            )
        ]


@dataclass(frozen=True)
class HistoryState:
    """Everything a :class:`History` holds, as plain columns and values (see :meth:`History.export_state`)."""

    transaction_id: pa.Array
    customer_id: pa.Array
    """Strings, or a dictionary array of them."""
    terminal_id: pa.Array
    event_time_ms: _Ints
    amount_cents: _Ints
    scenarios: npt.NDArray[np.int8]
    labeled_at_ms: _Ints
    """The winning label's time (:data:`NEVER`: none). Unlike a :class:`Snapshot`'s, it may be
    before the transaction: such a label is held, and left out of snapshots."""
    is_fraud: npt.NDArray[np.bool_]
    held_labels: tuple[LabelFacts, ...]
    """Labels of transactions not seen yet."""
    waiting_labels: tuple[LabelFacts, ...]
    """Labels waiting for the clock, in the order they are taken."""
    clock_sample: tuple[int, ...]
    """The stream clock's event times, oldest first (:meth:`EventClock.sample`)."""
    counters: Mapping[str, int]
    """The tallies (:data:`COUNTERS`)."""

    def __len__(self) -> int:
        return len(self.event_time_ms)


class _Column:
    """A numpy column that grows by doubling."""

    def __init__(self, dtype: type[np.generic]) -> None:
        self.data: npt.NDArray[Any] = np.empty(1024, dtype=dtype)
        self.size = 0

    def extend(self, values: npt.NDArray[Any]) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data)), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = values
        self.size = end

    @property
    def values(self) -> npt.NDArray[Any]:
        return self.data[: self.size]

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        self.data = self.data[: self.size][mask].copy()
        self.size = len(self.data)


class History:
    """Transactions and labels received so far, pruned to a horizon behind the stream clock."""

    def __init__(
        self,
        max_held_labels: int = BUCKETS * DEFAULT_SPEC.held_labels_per_bucket,
        spec: FeatureSpec = DEFAULT_SPEC,
        clock: EventClock | None = None,
    ) -> None:
        self._index = IdIndex()
        self._hash = _Column(np.int64)
        self._ids: list[pa.Array] = []
        self._customer = _Column(np.int32)
        self._terminal = _Column(np.int32)
        self._time = _Column(np.int64)
        self._cents = _Column(np.int64)
        self._scenario = _Column(np.int8)
        self._label = _Column(np.int64)
        """Per row, the winning label's key ``labeled_at_ms * 2 + is_fraud`` (:data:`_NO_LABEL`: none)."""
        self._customers = Codes()
        self._terminals = Codes()
        self._held: dict[str, LabelFacts] = {}
        """Labels whose transaction has not been seen, by id."""
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
        self.id_collisions = 0
        """Transactions or labels dropped because their id's hash is another held id's (see the module doc)."""

    def __len__(self) -> int:
        return self._time.size

    def export_state(self) -> HistoryState:
        """A copy of everything the history holds, rows in the order held (see :meth:`from_state`)."""
        keys = self._label.values
        labelled = keys != _NO_LABEL
        return HistoryState(
            transaction_id=self._all_ids(),
            customer_id=pa.DictionaryArray.from_arrays(self._customer.values.copy(), self._customers.names()),
            terminal_id=pa.DictionaryArray.from_arrays(self._terminal.values.copy(), self._terminals.names()),
            event_time_ms=self._time.values.copy(),
            amount_cents=self._cents.values.copy(),
            scenarios=self._scenario.values.copy(),
            labeled_at_ms=np.where(labelled, keys >> 1, NEVER),
            is_fraud=labelled & (keys & 1 == 1),
            held_labels=tuple(self._held.values()),
            waiting_labels=tuple(entry[2] for entry in sorted(self._waiting, key=lambda entry: entry[:2])),
            clock_sample=tuple(self._clock.sample()),
            counters={name: int(getattr(self, name)) for name in COUNTERS},
        )

    @classmethod
    def from_state(
        cls,
        state: HistoryState,
        max_held_labels: int = BUCKETS * DEFAULT_SPEC.held_labels_per_bucket,
        spec: FeatureSpec = DEFAULT_SPEC,
    ) -> History:
        """A history holding ``state`` (of this process or another: it is checked). ``ValueError``
        when it is not one a history can hold: columns of unequal length or with nulls, an id held
        twice, a label time out of range, more held or waiting labels than the bound."""
        n = len(state)
        strings = [_plain_strings(column) for column in (state.transaction_id, state.customer_id, state.terminal_id)]
        others = (state.amount_cents, state.scenarios, state.labeled_at_ms, state.is_fraud)
        if any(len(column) != n for column in (*strings, *others)):
            raise ValueError("the columns are of unequal length")
        if any(column.null_count for column in strings):
            raise ValueError("an id column holds nulls")
        labelled = state.labeled_at_ms != NEVER
        label_times = [label.labeled_at_ms for label in (*state.held_labels, *state.waiting_labels)]
        times = np.concatenate([state.labeled_at_ms[labelled], np.asarray(label_times, dtype=np.int64)])
        if not bool(((times >= 0) & (times < _MAX_LABEL_TIME)).all()):
            raise ValueError("a label time is out of range")
        if max(len(state.held_labels), len(state.waiting_labels)) > max_held_labels:
            raise ValueError(f"more than {max_held_labels:,} held or waiting labels")
        counters = {name: int(state.counters.get(name, 0)) for name in COUNTERS}
        if min(counters.values()) < 0:
            raise ValueError("a negative tally")
        clock = EventClock()
        if len(state.clock_sample) > clock.window:
            raise ValueError("the clock sample is longer than the clock's window")
        clock.observe(list(state.clock_sample))
        history = cls(max_held_labels, spec, clock)
        ids = strings[0]
        hashes = history._index.hashes(ids)
        ordered = np.sort(hashes)
        if bool((ordered[1:] == ordered[:-1]).any()):
            raise ValueError("a transaction id is held twice")
        del ordered
        history._hash.extend(hashes)
        history._ids = [ids] if n else []
        history._customer.extend(history._customers.encode(strings[1]))
        history._terminal.extend(history._terminals.encode(strings[2]))
        history._time.extend(np.asarray(state.event_time_ms, dtype=np.int64))
        history._cents.extend(np.asarray(state.amount_cents, dtype=np.int64))
        history._scenario.extend(np.asarray(state.scenarios, dtype=np.int8))
        keys = np.full(n, _NO_LABEL, dtype=np.int64)
        keys[labelled] = _key(state.labeled_at_ms[labelled], state.is_fraud[labelled])
        history._label.extend(keys)
        history._index.add(hashes, np.arange(n, dtype=np.int64))
        history._held = {label.transaction_id: label for label in state.held_labels}
        for label in state.waiting_labels:
            heapq.heappush(history._waiting, (label.labeled_at_ms, next(history._arrivals), label))
        for name, value in counters.items():
            setattr(history, name, value)
        return history

    @property
    def clock_ms(self) -> int:
        """The stream clock (epoch ms; 0 before the first transaction)."""
        now = self._clock.now_ms
        return 0 if now is None else now

    @property
    def waiting_labels(self) -> int:
        """Labels dated ahead of the clock, waiting for it."""
        return len(self._waiting)

    @property
    def held_labels(self) -> int:
        """Labels whose transaction has not been seen."""
        return len(self._held)

    # -- transactions ----------------------------------------------------------------------------

    def add_transaction(self, transaction: Transaction) -> bool:
        """:meth:`add_transactions` of one."""
        return self.add_transactions([transaction]) == 1

    def add_transactions(self, transactions: Sequence[Transaction]) -> int:
        """:meth:`add_transaction_columns` of events."""
        return self.add_transaction_columns(transaction_columns(transactions))

    def add_transaction_columns(self, batch: TransactionColumns) -> int:
        """Move the clock with a batch's event times, then remember each transaction that is not
        too old for the features (the first copy of an id wins); how many were not too old."""
        times = batch.event_time_ms
        if not len(times):
            return 0
        self._clock.observe(np.sort(times).tolist())
        usable = np.flatnonzero(times >= self.clock_ms - self.spec.usable_age_ms)
        self.stale_transactions += len(times) - len(usable)
        if len(usable):
            self._append(batch, usable)
        self._take_due()
        return len(usable)

    def _append(self, batch: TransactionColumns, usable: _Ints) -> None:
        ids = batch.transaction_id.take(usable)
        hashes = self._index.hashes(ids)
        customer = self._customers.encode(batch.customer_id.take(usable))
        terminal = self._terminals.encode(batch.terminal_id.take(usable))
        time, cents = batch.event_time_ms[usable], batch.amount_cents[usable]
        unique, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        found = self._index.lookup(unique)
        held_ids = self._id_at(found[found != NOT_FOUND])
        collided = np.zeros(len(unique), dtype=np.bool_)
        collided[found != NOT_FOUND] = ~_equal(held_ids, ids.take(first[found != NOT_FOUND]))
        # the facts each id keeps: the held row's, else the batch's first copy
        kept_customer, kept_terminal = customer[first], terminal[first]
        kept_time, kept_cents = time[first], cents[first]
        old = np.flatnonzero((found != NOT_FOUND) & ~collided)
        rows = found[old]
        kept_customer[old] = self._customer.values[rows]
        kept_terminal[old] = self._terminal.values[rows]
        kept_time[old] = self._time.values[rows]
        kept_cents[old] = self._cents.values[rows]
        copy_of = np.ones(len(hashes), dtype=np.bool_)
        copy_of[first[found == NOT_FOUND]] = False  # the first copies of new ids are added, not compared
        same_id = _equal(ids, ids.take(first[inverse]))
        self.id_collisions += int(np.count_nonzero(~same_id)) + int(np.count_nonzero(collided[inverse] & same_id))
        compare = copy_of & same_id & ~collided[inverse]
        differs = (
            (customer != kept_customer[inverse])
            | (terminal != kept_terminal[inverse])
            | (time != kept_time[inverse])
            | (cents != kept_cents[inverse])
        )
        self.conflicts += int(np.count_nonzero(compare & differs))
        new = first[found == NOT_FOUND]
        new.sort()
        start = len(self)
        self._hash.extend(hashes[new])
        self._ids.append(ids.take(new))
        if len(self._ids) > _MAX_CHUNKS:
            self._ids = [pa.chunked_array(self._ids, type=pa.string()).combine_chunks()]
        self._customer.extend(customer[new])
        self._terminal.extend(terminal[new])
        self._time.extend(time[new])
        self._cents.extend(cents[new])
        self._scenario.extend(batch.scenario[usable][new])
        labels = np.full(len(new), _NO_LABEL, dtype=np.int64)
        if self._held:
            new_ids = ids.take(new)
            waiting = np.flatnonzero(pc.is_in(new_ids, value_set=pa.array(list(self._held))).to_numpy(False))
            for at, tx_id in zip(waiting.tolist(), new_ids.take(waiting).to_pylist(), strict=True):
                label = self._held.pop(tx_id)
                labels[at] = _key(label.labeled_at_ms, label.is_fraud)
        self._label.extend(labels)
        self._index.add(hashes[new], np.arange(start, start + len(new), dtype=np.int64))

    def _id_at(self, rows: _Ints) -> pa.Array:
        if not len(rows):
            return pa.array([], type=pa.string())
        return pa.chunked_array(self._ids, type=pa.string()).take(rows)

    def _all_ids(self) -> pa.Array:
        if not self._ids:
            return pa.array([], type=pa.string())
        return pa.chunked_array(self._ids, type=pa.string()).combine_chunks()

    # -- labels ----------------------------------------------------------------------------------

    def add_events(self, events: Iterable[Transaction | Label], batch_size: int = 1_000) -> None:
        """Add transactions and labels in the order given, consecutive events of a kind in batches
        of up to ``batch_size`` (as read from the topics)."""
        for is_transaction, run in itertools.groupby(events, key=lambda event: isinstance(event, Transaction)):
            while chunk := list(itertools.islice(run, batch_size)):
                if is_transaction:
                    self.add_transactions([event for event in chunk if isinstance(event, Transaction)])
                else:
                    self.add_labels([event for event in chunk if isinstance(event, Label)])

    def add_label(self, label: Label) -> bool:
        """Remember a label (per transaction the latest ``labeled_at`` wins); whether it changed the
        transaction's label (new, or a correction). A label too far ahead of the clock waits (see
        the module docstring) and changes nothing yet."""
        return self.add_labels([label]) == 1

    def add_labels(self, labels: Sequence[Label]) -> int:
        """:meth:`add_label_columns` of events."""
        return self.add_label_columns(label_columns(labels))

    def add_label_columns(self, batch: LabelColumns) -> int:
        """:meth:`add_label` of each label of a batch, in order; how many changed a transaction's label."""
        if not len(batch):
            return 0
        now = self._clock.now_ms
        limit = None if now is None else now + FUTURE_TOLERANCE_MS
        wait = np.ones(len(batch), dtype=np.bool_) if limit is None else batch.labeled_at_ms > limit
        waiting = np.flatnonzero(wait)
        room = max(0, self.max_held_labels - len(self._waiting))
        self.refused_labels += max(0, len(waiting) - room)
        for tx_id, fraud, at in zip(
            batch.transaction_id.take(waiting[:room]).to_pylist(),
            batch.is_fraud[waiting[:room]].tolist(),
            batch.labeled_at_ms[waiting[:room]].tolist(),
            strict=True,
        ):
            heapq.heappush(self._waiting, (at, next(self._arrivals), LabelFacts(tx_id, fraud, at)))
        taken = np.flatnonzero(~wait)
        return self._take(batch.transaction_id.take(taken), batch.is_fraud[taken], batch.labeled_at_ms[taken])

    def _take_due(self) -> None:
        """Take the waiting labels the clock has come close enough to."""
        limit = self.clock_ms + FUTURE_TOLERANCE_MS
        due: list[LabelFacts] = []
        while self._waiting and self._waiting[0][0] <= limit:
            due.append(heapq.heappop(self._waiting)[2])
        if due:
            self._take(
                pa.array([label.transaction_id for label in due], type=pa.string()),
                np.array([label.is_fraud for label in due], dtype=np.bool_),
                np.array([label.labeled_at_ms for label in due], dtype=np.int64),
            )

    def _take(self, ids: pa.Array, is_fraud: npt.NDArray[np.bool_], labeled_at: _Ints) -> int:
        """Take labels in order (the latest wins); how many changed a transaction's label."""
        if not len(ids):
            return 0
        rows = self._index.lookup(self._index.hashes(ids)) if len(self) else np.full(len(ids), NOT_FOUND)
        hit = np.flatnonzero(rows != NOT_FOUND)
        rows[hit[~_equal(self._id_at(rows[hit]), ids.take(hit))]] = NOT_FOUND  # a hash shared by chance
        known = np.flatnonzero(rows != NOT_FOUND)
        changed = self._take_known(rows[known], _key(labeled_at[known], is_fraud[known]))
        unknown = np.flatnonzero(rows == NOT_FOUND)
        for tx_id, fraud, at in zip(
            ids.take(unknown).to_pylist(), is_fraud[unknown].tolist(), labeled_at[unknown].tolist(), strict=True
        ):
            changed += self._take_held(LabelFacts(tx_id, fraud, at))
        return changed

    def _take_known(self, rows: _Ints, keys: _Ints) -> int:
        """Labels of held transactions, in order: each changes its row's label when its key is above
        the row's and every earlier one's of the batch."""
        if not len(rows):
            return 0
        n = len(rows)
        order = np.lexsort((np.arange(n), rows))
        rows, keys = rows[order], keys[order]
        stored = self._label.values[rows]
        starts = np.ones(n, dtype=np.bool_)
        starts[1:] = rows[1:] != rows[:-1]
        ranks = np.unique(np.concatenate((keys, stored)), return_inverse=True)[1] + 1
        key_rank, stored_rank = ranks[:n], ranks[n:]
        group = np.cumsum(starts) - 1
        span = 2 * n + 2
        running = np.maximum.accumulate(group * span + key_rank) - group * span
        before = np.zeros(n, dtype=np.int64)
        before[1:] = running[:-1]
        before[starts] = 0
        changed = key_rank > np.maximum(before, stored_rank)
        self.labels_received += int(np.count_nonzero(changed))
        self.label_corrections += int(np.count_nonzero(changed & ((stored != _NO_LABEL) | ~starts)))
        np.maximum.at(self._label.data, rows, keys)
        return int(np.count_nonzero(changed))

    def _take_held(self, facts: LabelFacts) -> bool:
        held = self._held.get(facts.transaction_id)
        if held is not None and not label_wins(facts, held):
            return False
        if held is None and len(self._held) >= self.max_held_labels:
            self.refused_labels += 1
            return False
        self._held[facts.transaction_id] = facts
        self.labels_received += 1
        self.label_corrections += held is not None
        return True

    # -- pruning and snapshots -------------------------------------------------------------------

    def prune(self, keep_from_ms: int) -> int:
        """Forget transactions (and their labels) older than ``keep_from_ms``; also what is dated
        more than the usable age ahead of the clock (see the module docstring). How many
        transactions went for their age."""
        now = self._clock.now_ms  # None: nothing read yet, no clock to judge "ahead" by
        keep_until = NEVER if now is None else now + self.spec.usable_age_ms
        times = self._time.values
        old, ahead = times < keep_from_ms, times > keep_until
        self.pruned_ahead += int(np.count_nonzero(ahead))
        if old.any() or ahead.any():
            self._keep(~(old | ahead))
        orphans = [
            tx_id for tx_id, label in self._held.items() if not keep_from_ms <= label.labeled_at_ms <= keep_until
        ]
        for tx_id in orphans:
            del self._held[tx_id]
        waiting = [entry for entry in self._waiting if entry[0] <= keep_until]
        self.pruned_labels += len(orphans) + len(self._waiting) - len(waiting)
        heapq.heapify(waiting)
        self._waiting = waiting
        return int(np.count_nonzero(old))

    def _keep(self, mask: npt.NDArray[np.bool_]) -> None:
        ids = pa.chunked_array(self._ids, type=pa.string()).filter(pa.array(mask)).combine_chunks()
        self._ids = [ids]
        for column in (self._hash, self._time, self._cents, self._scenario, self._label):
            column.keep(mask)
        for column, codes in ((self._customer, self._customers), (self._terminal, self._terminals)):
            column.keep(mask)
            column.data = codes.keep(column.data)[column.data]
        self._index.rebuild(self._hash.values)

    def snapshot(self) -> Snapshot:
        """The history as sorted columns, for one training run."""
        ids = self._all_ids()
        times = self._time.values.astype(np.int64)
        order = pc.sort_indices(
            pa.table({"t": times, "id": ids}), sort_keys=[("t", "ascending"), ("id", "ascending")]
        ).to_numpy()
        keys = self._label.values[order].astype(np.int64)
        times = times[order]
        labeled_at = keys >> 1
        kept = (keys != _NO_LABEL) & (labeled_at >= times)
        return Snapshot(
            transaction_id=ids.take(order),
            event_time_ms=times,
            amount_cents=self._cents.values[order].astype(np.int64),
            customer=self._customer.values[order].astype(np.int32),
            terminal=self._terminal.values[order].astype(np.int32),
            scenarios=self._scenario.values[order].astype(np.int8),
            labeled_at_ms=np.where(kept, labeled_at, NEVER),
            is_fraud=kept & (keys & 1 == 1),
            clock_ms=self.clock_ms,
        )


def _key(labeled_at_ms: _Ints | int, is_fraud: npt.NDArray[np.bool_] | bool) -> _Ints:
    """The order of labels of one transaction: the latest ``labeled_at`` wins, fraud over genuine at equal times."""
    return np.asarray(labeled_at_ms, dtype=np.int64) * 2 + np.asarray(is_fraud, dtype=np.int64)


def _equal(left: pa.Array, right: pa.Array) -> npt.NDArray[np.bool_]:
    if not len(left):
        return np.zeros(0, dtype=np.bool_)
    return np.asarray(pc.equal(left, right).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _plain_strings(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column of strings (a dictionary array decoded), in one chunk; ``ValueError`` for other types."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if column.type == pa.large_string():
        column = column.cast(pa.string())
    if column.type != pa.string():
        raise ValueError(f"an id column is {column.type}, not strings")
    return column
