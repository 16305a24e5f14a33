"""The script calls of the Redis feature store, built from a batch and read back: pure code, no I/O.

Each phase of a batch (see :mod:`fraudcore.features.redis_store`) becomes one :class:`ScriptCall` per
bucket present, or one call for the whole phase when ``per_bucket`` is false (standalone Redis, where
keys of many slots may share a call). A call's keys all carry its bucket's hash tag, so on a cluster
each call runs on one slot. Within a call the rows keep their batch order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fraudcore.features.buckets import bucket_of, bucket_tag
from fraudcore.features.definition import Conflict, FeatureSpec, LabelFacts, LabelOutcome, TxFacts
from fraudcore.features.scripts import (
    APPLY_LABELS,
    CLAIM_LABELS,
    CLAIM_TRANSACTIONS,
    RECORD_CUSTOMERS,
    RECORD_TERMINALS,
    LuaScript,
)

__all__ = [
    "MAX_CENTS",
    "Claim",
    "KeyLayout",
    "LabelJoin",
    "ScriptCall",
    "apply_calls",
    "claim_calls",
    "customer_calls",
    "group_rows",
    "label_claim_calls",
    "read_applied",
    "read_claims",
    "read_counts",
    "read_label_claims",
    "terminal_calls",
]

MAX_CENTS = 9_999_999_999
"""Largest amount a transaction may carry (the events' limit is 10**8 cents)."""

Arg = bytes | int


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One ``EVALSHA``: the script, its keys and arguments, and the batch rows it answers, in order."""

    script: LuaScript
    keys: tuple[bytes, ...]
    args: tuple[Arg, ...]
    rows: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    """A transaction after phase A: its facts as first recorded, and the label its claim carries."""

    new: bool
    """Claimed by this call (peek: not recorded yet), so its tiles surely lack it."""
    transaction_id: bytes
    customer_id: bytes
    terminal_id: bytes
    event_time_ms: int
    amount_cents: int
    label: bytes = b""
    """The label held for it when it was claimed (``<1 or 0>|<labeled_at>``), or empty."""
    dropped_label: bool = False
    """Claimed now, its held label was dropped: dated before the transaction."""
    stale: bool = False
    """Not claimed: past the claim horizon, it may be a redelivery no longer recognised; never added."""

    @property
    def flag(self) -> bytes:
        """How the tile scripts treat it: ``1`` claimed now, ``0`` claimed before, ``s`` stale."""
        return b"s" if self.stale else b"1" if self.new else b"0"


@dataclass(frozen=True, slots=True)
class LabelJoin:
    """A label joined to its transaction's terminal and event time, for its terminal bucket to apply."""

    row: int
    """The label's row in its batch."""
    transaction_id: bytes
    terminal_id: bytes
    event_time_ms: int
    value: bytes
    """``<1 or 0>|<labeled_at>``."""
    own: bool = False
    """Joined on the label's own terminal and time (past the claim horizon), not on its claim."""


@dataclass(frozen=True)
class KeyLayout:
    """Key names under a namespace: ``<namespace>:<kind>:<bucket tag>[:<id>]``."""

    namespace: str
    _prefix: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.namespace or "{" in self.namespace or "}" in self.namespace:
            raise ValueError("namespace must be non-empty and free of '{' and '}'")
        object.__setattr__(self, "_prefix", self.namespace.encode() + b":")

    def key(self, kind: bytes, entity_id: bytes) -> bytes:
        """The key of ``kind`` (``csums``, ``tsums``, ``frauds``) for an id."""
        return b"%s%s:%s:%s" % (self._prefix, kind, bucket_tag(bucket_of(entity_id)), entity_id)

    def bucket_key(self, kind: bytes, entity_id: bytes) -> bytes:
        """The key of ``kind`` (``claims``, ``hold``, or the day indexes ``cday``, ``cmark``, ``tmark``,
        ``lrec``) of the bucket of an id."""
        return b"%s%s:%s" % (self._prefix, kind, bucket_tag(bucket_of(entity_id)))


def group_rows(ids: Sequence[bytes], per_bucket: bool) -> list[tuple[int, ...]]:
    """The rows of ``ids`` grouped by bucket (rows in order; groups by first row), or all in one group."""
    if not per_bucket:
        return [tuple(range(len(ids)))] if ids else []
    groups: dict[int, list[int]] = {}
    for row, entity_id in enumerate(ids):
        groups.setdefault(bucket_of(entity_id), []).append(row)
    return [tuple(rows) for rows in groups.values()]


class _Keys:
    """The ``KEYS`` of one call: each key once, referred to by its 1-based index."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self._index: dict[bytes, int] = {}

    def index(self, *keys: bytes) -> int:
        """The index of the first of ``keys``, added (all, in order) if new."""
        at = self._index.get(keys[0])
        if at is None:
            at = self._index[keys[0]] = len(self.keys) + 1
            self.keys += keys
        return at


def claim_keys(layout: KeyLayout, tx_id: bytes) -> tuple[bytes, bytes, bytes]:
    """The claim keys of a transaction's bucket, in the scripts' ``KEYS`` order: its claim-day index,
    its held labels and its claims."""
    return layout.bucket_key(b"cday", tx_id), layout.bucket_key(b"hold", tx_id), layout.bucket_key(b"claims", tx_id)


def tx_value(tx: TxFacts) -> bytes:
    customer = tx.customer_id.encode()
    return b"%d|%d|%d|%s%s" % (tx.event_time_ms, tx.amount_cents, len(customer), customer, tx.terminal_id.encode())


def _clock(clock_ms: int | None) -> bytes:
    """The clock argument of the scripts: pruning is relative to ``min(t, clock)``; empty: none."""
    return b"" if clock_ms is None else b"%d" % clock_ms


def claim_calls(
    layout: KeyLayout,
    batch: Sequence[TxFacts],
    spec: FeatureSpec,
    *,
    record: bool,
    per_bucket: bool,
    clock_ms: int | None = None,
) -> list[ScriptCall]:
    """Phase A: claim each transaction in its bucket's claims and take the label held for it."""
    ids = [tx.transaction_id.encode() for tx in batch]
    for tx in batch:
        if not 0 <= tx.amount_cents <= MAX_CENTS:
            raise ValueError(f"transaction {tx.transaction_id!r}: amount_cents must be within [0, {MAX_CENTS}]")
    calls = []
    head = (b"1" if record else b"0", spec.key_ttl_s, spec.claim_horizon_ms, _clock(clock_ms))
    for rows in group_rows(ids, per_bucket):
        keys = _Keys()
        args: list[Arg] = [*head]
        for row in rows:
            tx_id = ids[row]
            k = keys.index(*claim_keys(layout, tx_id))
            args += [k, tx_id, tx_value(batch[row])]
        calls.append(ScriptCall(CLAIM_TRANSACTIONS, tuple(keys.keys), tuple(args), rows))
    return calls


def _stored_facts(tx_id: str, stored: bytes) -> TxFacts:
    t, cents, length, rest = stored.split(b"|", 3)
    n = int(length)
    return TxFacts(tx_id, rest[:n].decode(), rest[n:].decode(), int(t), int(cents))


def read_claims(
    batch: Sequence[TxFacts], calls: Sequence[ScriptCall], replies: Sequence[object]
) -> tuple[list[Claim | Conflict], int]:
    """The claims of ``batch`` from the replies of :func:`claim_calls` (an id stored with other facts
    is a :class:`Conflict`), and how many held labels the calls dropped as expired (their transaction
    behind the claim floor)."""
    claims: list[Claim | Conflict | None] = [None] * len(batch)
    expired = 0
    for call, reply in zip(calls, replies, strict=True):
        values = _strings(reply, 2 * len(call.rows) + 1)
        expired += int(values[-1])
        for at, row in enumerate(call.rows):
            stored, label = values[2 * at], values[2 * at + 1]
            tx = batch[row]
            if stored and stored != tx_value(tx):
                claims[row] = Conflict(_stored_facts(tx.transaction_id, stored))
                continue
            dropped, stale = label == b"d", label == b"s"
            claims[row] = Claim(
                not stored,
                tx.transaction_id.encode(),
                tx.customer_id.encode(),
                tx.terminal_id.encode(),
                tx.event_time_ms,
                tx.amount_cents,
                b"" if dropped or stale else label,
                dropped,
                stale,
            )
    return [claim for claim in claims if claim is not None], expired


def _windows(windows_days: tuple[int, ...], spec: FeatureSpec) -> tuple[int, ...]:
    return (len(windows_days), *(w * spec.tiles_per_day for w in windows_days))


def customer_calls(
    layout: KeyLayout,
    claims: Sequence[Claim],
    spec: FeatureSpec,
    *,
    record: bool,
    per_bucket: bool,
    clock_ms: int | None = None,
) -> list[ScriptCall]:
    """Phase B: add each transaction to its customer's tiles and count its customer windows (pruning
    relative to ``min(t, clock_ms)``)."""
    head = (
        b"1" if record else b"0",
        spec.key_ttl_s,
        spec.customer_horizon_ms,
        spec.claim_horizon_ms,
        _clock(clock_ms),
        spec.tile_ms,
        *_windows(spec.customer_windows_days, spec),
    )
    calls = []
    for rows in group_rows([claim.customer_id for claim in claims], per_bucket):
        keys = _Keys()
        parts = []
        for row in rows:
            c = claims[row]
            k = keys.index(layout.key(b"csums", c.customer_id))
            m = keys.index(layout.bucket_key(b"cmark", c.customer_id))
            tx_id = c.transaction_id
            parts.append(b"%d,%d,%s,%d,%d,%d,%s" % (k, m, c.flag, c.event_time_ms, c.amount_cents, len(tx_id), tx_id))
        calls.append(ScriptCall(RECORD_CUSTOMERS, tuple(keys.keys), (*head, b"".join(parts)), rows))
    return calls


def terminal_calls(
    layout: KeyLayout,
    claims: Sequence[Claim],
    spec: FeatureSpec,
    *,
    record: bool,
    per_bucket: bool,
    clock_ms: int | None = None,
) -> list[ScriptCall]:
    """Phase C: add each transaction to its terminal's tiles, apply the label its claim carries, and
    count its terminal windows (pruning relative to ``min(t, clock_ms)``)."""
    head: tuple[Arg, ...] = (
        b"1" if record else b"0",
        spec.key_ttl_s,
        spec.terminal_horizon_ms,
        spec.claim_horizon_ms,
        _clock(clock_ms),
        spec.tile_ms,
        spec.label_delay_days * spec.tiles_per_day,
        *_windows(spec.terminal_windows_days, spec),
    )
    calls = []
    for rows in group_rows([claim.terminal_id for claim in claims], per_bucket):
        keys = _Keys()
        parts = []
        for row in rows:
            c = claims[row]
            k = keys.index(layout.key(b"tsums", c.terminal_id), layout.key(b"frauds", c.terminal_id))
            m = keys.index(layout.bucket_key(b"tmark", c.terminal_id), layout.bucket_key(b"lrec", c.terminal_id))
            tx_id = c.transaction_id
            parts.append(b"%d,%d,%s,%d,%s,%d,%s" % (k, m, c.flag, c.event_time_ms, c.label, len(tx_id), tx_id))
        calls.append(ScriptCall(RECORD_TERMINALS, tuple(keys.keys), (*head, b"".join(parts)), rows))
    return calls


def read_counts(rows: int, width: int, calls: Sequence[ScriptCall], replies: Sequence[object]) -> list[list[int]]:
    """Per row the ``width`` integers the calls of :func:`customer_calls` or :func:`terminal_calls` return."""
    out: list[list[int]] = [[] for _ in range(rows)]
    for call, reply in zip(calls, replies, strict=True):
        text = _string(reply)
        flat = list(map(int, text.split(b",")))
        if len(flat) != width * len(call.rows):
            raise RuntimeError(f"feature script returned {len(flat)} integers for {len(call.rows)} transactions")
        for at, row in enumerate(call.rows):
            out[row] = flat[at * width : (at + 1) * width]
    return out


def label_value(label: LabelFacts) -> bytes:
    return b"%d|%d" % (label.is_fraud, label.labeled_at_ms)


def label_claim_calls(
    layout: KeyLayout, labels: Sequence[LabelFacts], spec: FeatureSpec, *, per_bucket: bool
) -> list[ScriptCall]:
    """Phase 1 of labels: find what each label joins on (its claim, or its own terminal and time past
    the claim horizon), or hold it."""
    ids = [label.transaction_id.encode() for label in labels]
    calls = []
    for rows in group_rows(ids, per_bucket):
        keys = _Keys()
        args: list[Arg] = [b"1", spec.key_ttl_s, spec.held_labels_per_bucket]
        for row in rows:
            label, tx_id = labels[row], ids[row]
            k = keys.index(*claim_keys(layout, tx_id))
            own = (
                b"%d" % label.event_time_ms
                if label.terminal_id is not None and label.event_time_ms is not None
                else b""
            )
            args += [k, tx_id, label_value(label), own]
        calls.append(ScriptCall(CLAIM_LABELS, tuple(keys.keys), tuple(args), rows))
    return calls


_OUTCOMES: dict[bytes, LabelOutcome] = {
    b"n": LabelOutcome.NEW,
    b"c": LabelOutcome.CORRECTED,
    b"u": LabelOutcome.UNCHANGED,
    b"h": LabelOutcome.HELD,
    b"b": LabelOutcome.BEFORE_TRANSACTION,
    b"x": LabelOutcome.UNKNOWN_TRANSACTION,
    b"m": LabelOutcome.NO_TRANSACTION,
    b"r": LabelOutcome.UNJOINABLE,
}


def read_label_claims(
    labels: Sequence[LabelFacts], calls: Sequence[ScriptCall], replies: Sequence[object]
) -> tuple[list[LabelOutcome | None], list[LabelJoin]]:
    """Each label's outcome when phase 1 decided it (held, refused), else ``None``; and the joined
    labels for phase 2, in batch order."""
    outcomes: list[LabelOutcome | None] = [None] * len(labels)
    joins: list[LabelJoin] = []
    for call, reply in zip(calls, replies, strict=True):
        values = _strings(reply, 2 * len(call.rows))
        for at, row in enumerate(call.rows):
            letter, claimed = values[2 * at], values[2 * at + 1]
            label = labels[row]
            tx_id = label.transaction_id.encode()
            if letter == b"j":
                t, _, length, rest = claimed.split(b"|", 3)
                joins.append(LabelJoin(row, tx_id, rest[int(length) :], int(t), label_value(label)))
            elif letter == b"o" and label.terminal_id is not None and label.event_time_ms is not None:
                terminal = label.terminal_id.encode()
                joins.append(LabelJoin(row, tx_id, terminal, label.event_time_ms, label_value(label), own=True))
            else:
                outcomes[row] = _OUTCOMES[letter]
    joins.sort(key=lambda join: join.row)
    return outcomes, joins


def apply_calls(
    layout: KeyLayout, joins: Sequence[LabelJoin], spec: FeatureSpec, *, per_bucket: bool, clock_ms: int | None = None
) -> list[ScriptCall]:
    """Phase 2 of labels: make each joined label's record and its terminal's fraud counts follow it
    (pruning relative to ``min(t, clock_ms)``). A call's rows index ``joins``."""
    calls = []
    for rows in group_rows([join.terminal_id for join in joins], per_bucket):
        keys = _Keys()
        parts = []
        for row in rows:
            a = joins[row]
            k = keys.index(layout.key(b"frauds", a.terminal_id), layout.key(b"tsums", a.terminal_id))
            m = keys.index(layout.bucket_key(b"lrec", a.terminal_id))
            tx_id, how = a.transaction_id, b"o" if a.own else b"j"
            parts.append(b"%d,%d,%s,%d,%s,%d,%s" % (k, m, how, a.event_time_ms, a.value, len(tx_id), tx_id))
        args = (b"1", spec.key_ttl_s, spec.terminal_horizon_ms, _clock(clock_ms), spec.tile_ms, b"".join(parts))
        calls.append(ScriptCall(APPLY_LABELS, tuple(keys.keys), args, rows))
    return calls


def read_applied(
    outcomes: list[LabelOutcome | None],
    joins: Sequence[LabelJoin],
    calls: Sequence[ScriptCall],
    replies: Sequence[object],
) -> list[LabelOutcome]:
    """``outcomes`` completed with those of the joined labels from the replies of :func:`apply_calls`."""
    for call, reply in zip(calls, replies, strict=True):
        letters = _string(reply)
        if len(letters) != len(call.rows):
            raise RuntimeError(f"label script returned {len(letters)} outcomes for {len(call.rows)} labels")
        for at, row in enumerate(call.rows):
            outcomes[joins[row].row] = _OUTCOMES[letters[at : at + 1]]
    done = [outcome for outcome in outcomes if outcome is not None]
    if len(done) != len(outcomes):
        raise RuntimeError("a label got no outcome")
    return done


def _string(reply: object) -> bytes:
    if not isinstance(reply, bytes | str):
        raise RuntimeError(f"feature script returned {type(reply).__name__}, not a string")
    return reply.encode() if isinstance(reply, str) else reply


def _strings(reply: object, count: int) -> list[bytes]:
    """A script's reply as ``count`` byte strings."""
    if not isinstance(reply, list) or len(reply) != count:
        raise RuntimeError(f"feature script returned {reply!r:.80}, not {count} strings")
    return [value.encode() if isinstance(value, str) else bytes(value) for value in reply]
