"""The in-memory feature store, twin of the Redis store, and the offline features of fact objects.

Pure Python and deterministic: unit tests use :class:`MemoryFeatureStore` as the twin of the Redis
store, and :func:`offline_features` gives the trainer's and the backtest's features of
:class:`TxFacts` and :class:`LabelFacts` (an adapter over the vectorized
:mod:`fraudcore.features.offline`). The store mirrors the Redis layout (per-customer and
per-terminal tiles, per-terminal fraud counts, claims, recording marks and label records in
per-bucket event-time days, labels of unrecorded transactions held per slot bucket under the same
bound) and prunes exactly like it, so both give the same counts and label outcomes for the same
sequence of calls. There is no wall clock, hence no key expiry.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import ChainMap, Counter
from collections.abc import AsyncGenerator, Callable, MutableMapping, Sequence
from dataclasses import replace
from typing import Final, Generic, TypeVar

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
from fraudcore.features.tile_sums import TileSums

__all__ = ["MemoryFeatureStore", "offline_features"]

_K = TypeVar("_K")
_T = TypeVar("_T")
_V = TypeVar("_V")

Claim = tuple[TxFacts, LabelFacts | None]
"""A claimed transaction's facts, and the label that was held for it when it was claimed."""


class _Days(Generic[_V]):
    """Records of one slot bucket by id, in event-time days dropped whole (Redis: one hash per day and
    an index of the days with the first day kept, its ``floor``)."""

    __slots__ = ("days", "floor", "shared")

    def __init__(
        self, floor: int | None = None, days: dict[int, dict[str, _V]] | None = None, shared: set[int] | None = None
    ) -> None:
        self.floor = floor
        self.days: dict[int, dict[str, _V]] = days if days is not None else {}
        self.shared: set[int] | None = shared
        """In a fork's copy, the days whose records are still the base's (copied when first written)."""

    def copy(self) -> _Days[_V]:
        return _Days(self.floor, dict(self.days), set(self.days))

    def day(self, day: int) -> dict[str, _V]:
        """The records of ``day``, to write: created if missing; in a fork's copy, its own."""
        records = self.days.get(day)
        if records is None:
            records = self.days[day] = {}
        elif self.shared and day in self.shared:
            records = self.days[day] = records.copy()
            self.shared.discard(day)
        return records

    def advance(self, keep_from: int) -> bool:
        """Drop the days before ``keep_from``, unless the floor is there already; whether it moved."""
        if self.floor is not None and self.floor >= keep_from:
            return False
        for day in [day for day in self.days if day < keep_from]:
            del self.days[day]
        self.floor = keep_from
        return True

    def below_floor(self, day: int) -> bool:
        """Whether ``day`` was dropped (or would have been)."""
        return self.floor is not None and day < self.floor

    def get(self, day: int, key: str) -> _V | None:
        records = self.days.get(day)
        return None if records is None else records.get(key)

    def find(self, key: str) -> _V | None:
        """The record of ``key`` in any day held."""
        for records in self.days.values():
            value = records.get(key)
            if value is not None:
                return value
        return None

    def put(self, day: int, key: str, value: _V) -> None:
        self.day(day)[key] = value


class _Claims(_Days[Claim]):
    """The claims of one slot bucket, with the day of each id, so finding an id is one lookup (each id
    is claimed once: a claim is put only where none is found)."""

    __slots__ = ("day_of",)

    def __init__(
        self,
        floor: int | None = None,
        days: dict[int, dict[str, Claim]] | None = None,
        shared: set[int] | None = None,
        day_of: dict[str, int] | None = None,
    ) -> None:
        super().__init__(floor, days, shared)
        self.day_of: dict[str, int] = day_of if day_of is not None else {}

    def copy(self) -> _Claims:
        return _Claims(self.floor, dict(self.days), set(self.days), self.day_of.copy())

    def advance(self, keep_from: int) -> bool:
        if self.floor is not None and self.floor >= keep_from:
            return False
        day_of = self.day_of
        for day in [day for day in self.days if day < keep_from]:
            for key in self.days.pop(day):
                del day_of[key]
        self.floor = keep_from
        return True

    def find(self, key: str) -> Claim | None:
        day = self.day_of.get(key)
        return None if day is None else self.days[day][key]

    def put(self, day: int, key: str, value: Claim) -> None:
        self.day(day)[key] = value
        self.day_of[key] = day


class _Tables:
    """The store's state; a fork reads through to its base and copies what it changes."""

    def __init__(self, base: _Tables | None = None) -> None:
        self.claims: MutableMapping[int, _Claims]
        """Per transaction bucket, the claimed transactions (day of their event time)."""
        self.customer_marks: MutableMapping[int, _Days[tuple[int, int]]]
        """Per customer bucket, the transactions added to their customer's tiles (claim horizon), each
        with its tile's count and cents just after it was added."""
        self.terminal_marks: MutableMapping[int, _Days[bool]]
        """Per terminal bucket, the transactions added to their terminal's tiles (claim horizon)."""
        self.label_records: MutableMapping[int, _Days[LabelFacts]]
        """Per terminal bucket, the winning fraud labels (or genuine ones that replaced a fraud label)."""
        self.customers: MutableMapping[str, TileSums]
        """Per customer: each tile's count and cents."""
        self.terminals: MutableMapping[str, TileSums]
        """Per terminal: each tile's count (cents 0)."""
        self.frauds: MutableMapping[str, dict[tuple[int, int], int]]
        """Per terminal: (tile, labeled_at) → count of its transactions whose winning label is that fraud label."""
        self.held: MutableMapping[int, dict[str, LabelFacts]]
        """Per slot bucket, the labels of transactions not recorded yet, by transaction id."""
        names = ("claims", "customer_marks", "terminal_marks", "label_records", "customers", "terminals", "frauds")
        for name in (*names, "held"):
            setattr(self, name, {} if base is None else _Fork({}, getattr(base, name)))


class _Fork(ChainMap[_K, _T]):
    """A fork's table: its own entries over its base's (a plain dict; entries are never ``None`` and
    never deleted), read without :class:`ChainMap`'s generic lookups."""

    def get(self, key: _K, default: _T | None = None) -> _T | None:  # type: ignore[override]
        item = self.maps[0].get(key)
        return self.maps[1].get(key, default) if item is None else item

    def __contains__(self, key: object) -> bool:
        return key in self.maps[0] or key in self.maps[1]


def _writable(table: MutableMapping[_K, _T], key: _K, new: Callable[[], _T], copy: Callable[[_T], _T]) -> _T:
    """``table[key]``, created if missing; in a fork, a private copy of the base's entry."""
    if type(table) is dict:
        item = table.get(key)
        if item is None:
            item = table[key] = new()
        return item
    if isinstance(table, ChainMap):
        local = table.maps[0]
        item = local.get(key)
        if item is None:
            base = table.maps[1].get(key)
            item = local[key] = new() if base is None else copy(base)
        return item
    item = table.get(key)
    if item is None:
        item = table[key] = new()
    return item


def _days(table: MutableMapping[int, _Days[_V]], bucket: int) -> _Days[_V]:
    return _writable(table, bucket, _Days, _Days.copy)


def _tiles(table: MutableMapping[str, dict[_K, _T]], key: str) -> dict[_K, _T]:
    return _writable(table, key, dict, dict.copy)


def _sums(table: MutableMapping[str, TileSums], key: str) -> TileSums:
    return _writable(table, key, TileSums, TileSums.copy)


_NO_TILES: Final = TileSums()
"""An entity with no tiles (read only)."""


def _mark(table: MutableMapping[int, _Days[_V]], bucket: int, keep_from: int, day: int, main: bool) -> dict[str, _V]:
    """The records of ``day`` in ``bucket``'s marks (``main``: not a peek's fork, whose tables are
    plain dicts), its floor advanced to ``keep_from`` first, for the caller to put a mark in."""
    marks = table.get(bucket) if main else None
    if marks is None:
        marks = _days(table, bucket)
    if marks.floor is None or marks.floor < keep_from:
        marks.advance(keep_from)
    return marks.day(day)


def _prune_base(t: int, clock_ms: int | None) -> int:
    """What pruning at a transaction's ``t`` is relative to: ``t``, or the stream's clock when earlier."""
    return t if clock_ms is None else min(t, clock_ms)


def _day(time_ms: int) -> int:
    return time_ms // DAY_MS


class MemoryFeatureStore:
    """A :class:`~fraudcore.features.store.FeatureStore` held in process memory."""

    def __init__(self, spec: FeatureSpec = DEFAULT_SPEC) -> None:
        self.spec = spec
        self._tables = _Tables()
        p = spec.tiles_per_day
        self._customer_tiles = [w * p for w in spec.customer_windows_days]
        self._terminal_tiles = [w * p for w in spec.terminal_windows_days]
        self._delay_tiles = spec.label_delay_days * p
        self._no_frauds = (0,) * len(self._terminal_tiles)
        self._tile_ms = spec.tile_ms
        self._claim_horizon_ms = spec.claim_horizon_ms
        self._customer_horizon_ms = spec.customer_horizon_ms
        self._terminal_horizon_ms = spec.terminal_horizon_ms
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
        bucket = bucket_of(tx_id.encode())
        claims = tables.claims.get(bucket)
        claim = None if claims is None else claims.find(tx_id)
        if claim is not None:
            terminal, t = claim[0].terminal_id, claim[0].event_time_ms
        elif claims is not None and label.terminal_id is not None and label.event_time_ms is not None:
            if not claims.below_floor(_day(label.event_time_ms)):
                return self._hold(bucket, label)
            terminal, t = label.terminal_id, label.event_time_ms
            if label.labeled_at_ms < t:
                return LabelOutcome.BEFORE_TRANSACTION
            return self._apply(tables, terminal, tx_id, t, label, _prune_base(t, clock_ms), own=True)
        elif claims is not None and claims.floor is not None:  # a running stream: no claim to wait for
            return LabelOutcome.UNJOINABLE
        else:
            return self._hold(bucket, label)
        if label.labeled_at_ms < t:
            return LabelOutcome.BEFORE_TRANSACTION
        return self._apply(tables, terminal, tx_id, t, label, _prune_base(t, clock_ms))

    def _hold(self, bucket: int, label: LabelFacts) -> LabelOutcome:
        """Hold the label of a transaction not recorded yet (if it wins over one held, within the bound)."""
        held = self._tables.held.get(bucket, {})
        old = held.get(label.transaction_id)
        if old is not None and not label_wins(label, old):
            return LabelOutcome.UNCHANGED
        if old is None and len(held) >= self.spec.held_labels_per_bucket:
            return LabelOutcome.UNKNOWN_TRANSACTION
        _writable(self._tables.held, bucket, dict, dict.copy)[label.transaction_id] = label
        return LabelOutcome.HELD

    def _apply(
        self, tables: _Tables, terminal: str, tx_id: str, t: int, label: LabelFacts, base: int, *, own: bool = False
    ) -> LabelOutcome:
        """Make a transaction's label record and its terminal's fraud counts follow ``label`` if it wins.
        ``own``: joined on the label's own terminal and time, so applied only where the terminal has a
        recorded transaction of that tile not counted as fraud yet (unless it replaces a fraud record)."""
        spec = self.spec
        records = _days(tables.label_records, bucket_of(terminal.encode()))
        records.advance(_day(base - spec.terminal_horizon_ms))
        old = records.get(_day(t), tx_id)
        if old is not None and not label_wins(label, old):
            return LabelOutcome.UNCHANGED
        if own and not (old is not None and old.is_fraud) and not self._uncounted(tables, terminal, t):
            return LabelOutcome.NO_TRANSACTION
        if old is None and not label.is_fraud:
            return LabelOutcome.NEW  # a genuine label over no fraud one: nothing to record
        frauds = _tiles(tables.frauds, terminal)
        tile = spec.tile_of(t)
        if old is not None and old.is_fraud:
            count = frauds.get((tile, old.labeled_at_ms), 0)
            if count > 1:
                frauds[(tile, old.labeled_at_ms)] = count - 1
            elif count == 1:
                del frauds[(tile, old.labeled_at_ms)]
        if label.is_fraud:
            key = (tile, label.labeled_at_ms)
            frauds[key] = frauds.get(key, 0) + 1
            cut = spec.tile_of(base - spec.terminal_horizon_ms)
            for stale in [key for key in frauds if key[0] <= cut]:
                del frauds[stale]
        records.put(_day(t), tx_id, LabelFacts(tx_id, label.is_fraud, label.labeled_at_ms))
        return LabelOutcome.NEW if old is None else LabelOutcome.CORRECTED

    def _uncounted(self, tables: _Tables, terminal: str, t: int) -> bool:
        """Whether the terminal's tile of ``t`` holds more recorded transactions than fraud counts."""
        tile = t // self._tile_ms
        frauds = sum(count for (at, _), count in tables.frauds.get(terminal, {}).items() if at == tile)
        return frauds < tables.terminals.get(terminal, _NO_TILES).at(tile)[0]

    def _record(self, tables: _Tables, facts: TxFacts, clock_ms: int | None = None) -> WindowCounts | Conflict:
        t, tx_id, tile_ms = facts.event_time_ms, facts.transaction_id, self._tile_ms
        base = t if clock_ms is None or t <= clock_ms else clock_ms
        keep_claims_from, day, tile = (base - self._claim_horizon_ms) // DAY_MS, t // DAY_MS, t // tile_ms
        bucket = bucket_of(tx_id.encode())
        claims = _writable(tables.claims, bucket, _Claims, _Claims.copy)
        moved = (claims.floor is None or claims.floor < keep_claims_from) and claims.advance(keep_claims_from)
        if moved and tables is self._tables:  # not a peek's fork
            self._drop_expired(bucket, claims)
        claim = claims.find(tx_id)
        if claim is None:
            if claims.floor is not None and day < claims.floor:  # past the claim horizon: maybe a redelivery
                return self._counts(
                    t,
                    tables.customers.get(facts.customer_id, _NO_TILES),
                    tables.terminals.get(facts.terminal_id, _NO_TILES),
                    tables.frauds.get(facts.terminal_id),
                )
            held = tables.held.get(bucket)
            label = self._take_held(tables, facts, bucket, claims) if held and tx_id in held else None
            claims.put(day, tx_id, (facts, label))
            return self._record_new(tables, facts, day, tile, keep_claims_from, base, label)
        if claim[0] != facts:
            return Conflict(claim[0])
        return self._record_again(tables, facts, day, tile, keep_claims_from, base, claim[1])

    def _record_new(
        self, tables: _Tables, facts: TxFacts, day: int, tile: int, keep_from: int, base: int, label: LabelFacts | None
    ) -> WindowCounts:
        """Add a transaction claimed now to its customer's and terminal's tiles, with its marks."""
        tx_id, tile_ms, main = facts.transaction_id, self._tile_ms, tables is self._tables
        customer = tables.customers.get(facts.customer_id) if main else None
        if customer is None:
            customer = _sums(tables.customers, facts.customer_id)
        _mark(tables.customer_marks, bucket_of(facts.customer_id.encode()), keep_from, day, main).__setitem__(
            tx_id, customer.add(tile, facts.amount_cents)
        )
        cut = (base - self._customer_horizon_ms) // tile_ms
        if customer.tiles[0] <= cut:
            customer.prune(cut)

        terminal = tables.terminals.get(facts.terminal_id) if main else None
        if terminal is None:
            terminal = _sums(tables.terminals, facts.terminal_id)
        _mark(tables.terminal_marks, bucket_of(facts.terminal_id.encode()), keep_from, day, main)[tx_id] = True
        terminal.add(tile, 0)
        cut = (base - self._terminal_horizon_ms) // tile_ms
        if terminal.tiles[0] <= cut:
            terminal.prune(cut)
        if label is not None:
            self._apply(tables, facts.terminal_id, tx_id, facts.event_time_ms, label, base)
        return self._counts(facts.event_time_ms, customer, terminal, tables.frauds.get(facts.terminal_id))

    def _record_again(
        self, tables: _Tables, facts: TxFacts, day: int, tile: int, keep_from: int, base: int, label: LabelFacts | None
    ) -> WindowCounts:
        """A transaction claimed before: added where its marks are missing (and not dropped), its
        customer tile answered as at its first recording (its mark)."""
        tx_id, t, tile_ms = facts.transaction_id, facts.event_time_ms, self._tile_ms
        customer = _sums(tables.customers, facts.customer_id)
        customer_marks = _days(tables.customer_marks, bucket_of(facts.customer_id.encode()))
        customer_marks.advance(keep_from)
        mark = customer_marks.get(day, tx_id)
        if mark is None and not customer_marks.below_floor(day):
            customer_marks.put(day, tx_id, customer.add(tile, facts.amount_cents))
            customer.prune((base - self._customer_horizon_ms) // tile_ms)

        terminal = _sums(tables.terminals, facts.terminal_id)
        marks = _days(tables.terminal_marks, bucket_of(facts.terminal_id.encode()))
        marks.advance(keep_from)
        if marks.get(day, tx_id) is None and not marks.below_floor(day):
            terminal.add(tile, 0)
            terminal.prune((base - self._terminal_horizon_ms) // tile_ms)
            marks.put(day, tx_id, True)
        if label is not None:
            self._apply(tables, facts.terminal_id, tx_id, t, label, base)
        counts = self._counts(t, customer, terminal, tables.frauds.get(facts.terminal_id))
        if mark is None:
            return counts
        # its own tile as it was when it was added (its mark), so a redelivery gets the first
        # answer's counts even after later transactions of the same tile
        count, cents = customer.at(tile)
        extra_count, extra_cents = mark[0] - count, mark[1] - cents
        return replace(
            counts,
            customer_count=tuple(c + extra_count for c in counts.customer_count),
            customer_amount_cents=tuple(c + extra_cents for c in counts.customer_amount_cents),
        )

    def _drop_expired(self, bucket: int, claims: _Days[Claim]) -> None:
        """Drop the held labels of ``bucket`` whose transaction could no longer be claimed."""
        held = self._tables.held.get(bucket)
        expired = [tx_id for tx_id, label in (held or {}).items() if _expired(label, claims)]
        for tx_id in expired:
            del _writable(self._tables.held, bucket, dict, dict.copy)[tx_id]
        self.held_labels_dropped += len(expired)

    def _take_held(self, tables: _Tables, facts: TxFacts, bucket: int, claims: _Days[Claim]) -> LabelFacts | None:
        """The label held for a transaction claimed now, taken out of the held ones; dropped (``None``)
        when dated before it, or expired."""
        held = tables.held.get(bucket)
        if not held or facts.transaction_id not in held:
            return None
        label = _writable(tables.held, bucket, dict, dict.copy).pop(facts.transaction_id)
        if label.labeled_at_ms < facts.event_time_ms or _expired(label, claims):
            if tables is self._tables:  # not a peek's fork
                self.held_labels_dropped += 1
            return None
        return label

    def _counts(
        self,
        t: int,
        customer: TileSums,
        terminal: TileSums,
        frauds: dict[tuple[int, int], int] | None,
    ) -> WindowCounts:
        """The window counts at ``t`` from its customer's and terminal's tiles and terminal's frauds:
        each window a difference of running sums between two bisections."""
        now = t // self._tile_ms
        tiles, counts, cents = customer.tiles, customer.counts, customer.cents
        hi = len(tiles) if not tiles or tiles[-1] <= now else bisect_right(tiles, now)
        top_count, top_cents = counts[hi], cents[hi]
        customer_count, customer_cents = [], []
        for width in self._customer_tiles:
            lo = bisect_right(tiles, now - width, 0, hi)
            customer_count.append(top_count - counts[lo])
            customer_cents.append(top_cents - cents[lo])
        end = now - self._delay_tiles
        tiles, counts = terminal.tiles, terminal.counts
        hi = len(tiles) if not tiles or tiles[-1] <= end else bisect_right(tiles, end)
        top_count = counts[hi]
        terminal_count = tuple(
            [top_count - counts[bisect_right(tiles, end - width, 0, hi)] for width in self._terminal_tiles]
        )
        if not frauds:
            return WindowCounts(tuple(customer_count), tuple(customer_cents), terminal_count, self._no_frauds)
        oldest = end - self._terminal_tiles[-1]
        terminal_fraud = [0] * len(self._terminal_tiles)
        for (tile, labeled_at), count in frauds.items():
            if oldest < tile <= end and labeled_at <= t:
                for j, width in enumerate(self._terminal_tiles):
                    if tile > end - width:
                        terminal_fraud[j] += count
        return WindowCounts(tuple(customer_count), tuple(customer_cents), terminal_count, tuple(terminal_fraud))


def _expired(label: LabelFacts, claims: _Days[Claim]) -> bool:
    """Whether a held label's transaction could no longer be claimed: the day of the transaction time
    it carries (with its terminal), else of its ``labeled_at``, is below the claim floor."""
    own = None if label.terminal_id is None else label.event_time_ms
    return claims.below_floor(_day(label.labeled_at_ms if own is None else own))


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
