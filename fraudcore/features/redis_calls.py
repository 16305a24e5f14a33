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
from fraudcore.features.definition import DAY_MS, Conflict, FeatureSpec, LabelFacts, LabelOutcome, TxFacts
from fraudcore.features.scripts import (
    CLAIM_LABELS,
    CLAIM_TRANSACTIONS,
    RECORD_CUSTOMERS,
    RECORD_TERMINALS,
    SYNC_FRAUDS,
    LuaScript,
)

__all__ = [
    "MAX_CENTS",
    "Claim",
    "FraudSync",
    "KeyLayout",
    "ScriptCall",
    "claim_calls",
    "customer_calls",
    "fraud_calls",
    "group_rows",
    "label_claim_calls",
    "read_claims",
    "read_counts",
    "read_label_claims",
    "terminal_calls",
]

MAX_CENTS = 9_999_999_999
"""Largest amount the 10-digit field of a customer member holds (the events' limit is 10**8 cents)."""

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
    """A transaction after phase A: its facts as first recorded, and its fraud label, if any."""

    new: bool
    """Claimed by this call (peek: not recorded yet), so its sets surely lack it."""
    transaction_id: bytes
    customer_id: bytes
    terminal_id: bytes
    event_time_ms: int
    amount_cents: int
    fraud_labeled_at_ms: int | None
    dropped_label: bool = False
    """Claimed now, its held label was dropped: dated before the transaction."""


@dataclass(frozen=True, slots=True)
class FraudSync:
    """The final label of a recorded transaction, for its terminal's fraud set to follow."""

    changed: bool
    """The label was set (new or corrected) by this call."""
    transaction_id: bytes
    terminal_id: bytes
    event_time_ms: int
    fraud_labeled_at_ms: int | None
    """``labeled_at`` of the final label when it says fraud, else ``None`` (genuine)."""


@dataclass(frozen=True)
class KeyLayout:
    """Key names under a namespace: ``<namespace>:<kind>:<bucket tag>:<id>``."""

    namespace: str
    _prefix: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.namespace or "{" in self.namespace or "}" in self.namespace:
            raise ValueError("namespace must be non-empty and free of '{' and '}'")
        object.__setattr__(self, "_prefix", self.namespace.encode() + b":")

    def key(self, kind: bytes, entity_id: bytes) -> bytes:
        """The key of ``kind`` (``tx``, ``label``, ``cust``, ``term``, ``fraud``) for an id."""
        return b"%s%s:%s:%s" % (self._prefix, kind, bucket_tag(bucket_of(entity_id)), entity_id)

    def held_key(self, entity_id: bytes) -> bytes:
        """The held-labels hash of the bucket of a transaction id."""
        return b"%sheld:%s" % (self._prefix, bucket_tag(bucket_of(entity_id)))


def group_rows(ids: Sequence[bytes], per_bucket: bool) -> list[tuple[int, ...]]:
    """The rows of ``ids`` grouped by bucket (rows in order; groups by first row), or all in one group."""
    if not per_bucket:
        return [tuple(range(len(ids)))] if ids else []
    groups: dict[int, list[int]] = {}
    for row, entity_id in enumerate(ids):
        groups.setdefault(bucket_of(entity_id), []).append(row)
    return [tuple(rows) for rows in groups.values()]


def tx_value(tx: TxFacts) -> bytes:
    customer = tx.customer_id.encode()
    return b"%d|%d|%d|%s%s" % (tx.event_time_ms, tx.amount_cents, len(customer), customer, tx.terminal_id.encode())


def claim_calls(
    layout: KeyLayout, batch: Sequence[TxFacts], spec: FeatureSpec, *, record: bool, per_bucket: bool
) -> list[ScriptCall]:
    """Phase A: claim each transaction by its ``tx`` key and read its label (``label`` key or held)."""
    ids = [tx.transaction_id.encode() for tx in batch]
    for tx in batch:
        if not 0 <= tx.amount_cents <= MAX_CENTS:
            raise ValueError(f"transaction {tx.transaction_id!r}: amount_cents must be within [0, {MAX_CENTS}]")
    calls = []
    mode = b"1" if record else b"0"
    for rows in group_rows(ids, per_bucket):
        keys = [
            key
            for row in rows
            for key in (layout.key(b"tx", ids[row]), layout.key(b"label", ids[row]), layout.held_key(ids[row]))
        ]
        values = [tx_value(batch[row]) for row in rows]
        calls.append(ScriptCall(CLAIM_TRANSACTIONS, tuple(keys), (mode, spec.key_ttl_s, *values), rows))
    return calls


def _fraud_at(label: bytes) -> int | None:
    return int(label[2:]) if label.startswith(b"1|") else None


def _stored_facts(tx_id: str, stored: bytes) -> TxFacts:
    t, cents, length, rest = stored.split(b"|", 3)
    n = int(length)
    return TxFacts(tx_id, rest[:n].decode(), rest[n:].decode(), int(t), int(cents))


def read_claims(
    batch: Sequence[TxFacts], calls: Sequence[ScriptCall], replies: Sequence[object]
) -> list[Claim | Conflict]:
    """The claims of ``batch`` from the replies of :func:`claim_calls`; an id stored with other facts
    is a :class:`Conflict`."""
    claims: list[Claim | Conflict | None] = [None] * len(batch)
    for call, reply in zip(calls, replies, strict=True):
        values = _strings(reply, 2 * len(call.rows))
        for at, row in enumerate(call.rows):
            stored, label = values[2 * at], values[2 * at + 1]
            tx = batch[row]
            if stored and stored != tx_value(tx):
                claims[row] = Conflict(_stored_facts(tx.transaction_id, stored))
                continue
            customer, terminal = tx.customer_id.encode(), tx.terminal_id.encode()
            claims[row] = Claim(
                not stored,
                tx.transaction_id.encode(),
                customer,
                terminal,
                tx.event_time_ms,
                tx.amount_cents,
                _fraud_at(label),
                label == b"d",
            )
    return [claim for claim in claims if claim is not None]


def _windows(windows_days: tuple[int, ...]) -> tuple[int, ...]:
    return (len(windows_days), *(w * DAY_MS for w in windows_days))


def _clock(clock_ms: int | None) -> bytes:
    """The clock argument of the set scripts: pruning is relative to ``min(t, clock)``; empty: none."""
    return b"" if clock_ms is None else b"%d" % clock_ms


def customer_calls(
    layout: KeyLayout,
    claims: Sequence[Claim],
    spec: FeatureSpec,
    *,
    record: bool,
    per_bucket: bool,
    clock_ms: int | None = None,
) -> list[ScriptCall]:
    """Phase B: add each transaction to its customer set and count its customer windows (pruning
    relative to ``min(t, clock_ms)``)."""
    head = (
        b"1" if record else b"0",
        spec.key_ttl_s,
        spec.customer_horizon_ms,
        _clock(clock_ms),
        *_windows(spec.customer_windows_days),
    )
    calls = []
    for rows in group_rows([claim.customer_id for claim in claims], per_bucket):
        index: dict[bytes, int] = {}
        keys: list[bytes] = []
        parts = []
        for row in rows:
            c = claims[row]
            k = index.get(c.customer_id)
            if k is None:
                keys.append(layout.key(b"cust", c.customer_id))
                k = index[c.customer_id] = len(keys)
            tx_id = c.transaction_id
            parts.append(b"%d,%d,%d,%d,%d,%s" % (k, c.new, c.event_time_ms, c.amount_cents, len(tx_id), tx_id))
        calls.append(ScriptCall(RECORD_CUSTOMERS, tuple(keys), (*head, b"".join(parts)), rows))
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
    """Phase C: add each transaction to its terminal set (and fraud set) and count its terminal windows
    (pruning relative to ``min(t, clock_ms)``)."""
    mode = b"1" if record else b"0"
    delay = spec.label_delay_days * DAY_MS
    head: tuple[Arg, ...] = (
        mode,
        spec.key_ttl_s,
        spec.terminal_horizon_ms,
        _clock(clock_ms),
        delay,
        *_windows(spec.terminal_windows_days),
    )
    calls = []
    for rows in group_rows([claim.terminal_id for claim in claims], per_bucket):
        index: dict[bytes, int] = {}
        keys: list[bytes] = []
        parts = []
        for row in rows:
            c = claims[row]
            k = index.get(c.terminal_id)
            if k is None:
                k = index[c.terminal_id] = len(keys) + 1
                keys += [layout.key(b"term", c.terminal_id), layout.key(b"fraud", c.terminal_id)]
            fraud_at = b"" if c.fraud_labeled_at_ms is None else b"%d" % c.fraud_labeled_at_ms
            tx_id = c.transaction_id
            parts.append(b"%d,%d,%d,%s,%d,%s" % (k, c.new, c.event_time_ms, fraud_at, len(tx_id), tx_id))
        calls.append(ScriptCall(RECORD_TERMINALS, tuple(keys), (*head, b"".join(parts)), rows))
    return calls


def read_counts(rows: int, width: int, calls: Sequence[ScriptCall], replies: Sequence[object]) -> list[list[int]]:
    """Per row the ``width`` integers the calls of :func:`customer_calls` or :func:`terminal_calls` return."""
    out: list[list[int]] = [[] for _ in range(rows)]
    for call, reply in zip(calls, replies, strict=True):
        if not isinstance(reply, bytes | str):
            raise RuntimeError(f"feature script returned {type(reply).__name__}, not a string")
        text = reply.encode() if isinstance(reply, str) else reply
        flat = list(map(int, text.split(b",")))
        if len(flat) != width * len(call.rows):
            raise RuntimeError(f"feature script returned {len(flat)} integers for {len(call.rows)} transactions")
        for at, row in enumerate(call.rows):
            out[row] = flat[at * width : (at + 1) * width]
    return out


def label_claim_calls(
    layout: KeyLayout, labels: Sequence[LabelFacts], spec: FeatureSpec, *, per_bucket: bool
) -> list[ScriptCall]:
    """Phase 1 of labels: keep each transaction's winning label (or hold it) and read its ``tx`` key."""
    ids = [label.transaction_id.encode() for label in labels]
    calls = []
    for rows in group_rows(ids, per_bucket):
        keys = [
            key
            for row in rows
            for key in (layout.key(b"label", ids[row]), layout.key(b"tx", ids[row]), layout.held_key(ids[row]))
        ]
        values = [b"%d|%d" % (labels[row].is_fraud, labels[row].labeled_at_ms) for row in rows]
        args: tuple[Arg, ...] = (b"1", spec.key_ttl_s, spec.held_labels_per_bucket, *values)
        calls.append(ScriptCall(CLAIM_LABELS, tuple(keys), args, rows))
    return calls


_OUTCOMES: dict[bytes, LabelOutcome] = {
    b"n": LabelOutcome.NEW,
    b"c": LabelOutcome.CORRECTED,
    b"u": LabelOutcome.UNCHANGED,
    b"h": LabelOutcome.HELD,
    b"b": LabelOutcome.BEFORE_TRANSACTION,
    b"x": LabelOutcome.UNKNOWN_TRANSACTION,
}


def read_label_claims(
    labels: Sequence[LabelFacts], calls: Sequence[ScriptCall], replies: Sequence[object]
) -> tuple[list[LabelOutcome], list[FraudSync]]:
    """Each label's outcome, and the final labels of recorded transactions whose terminal fraud set may
    have to follow (new frauds, corrections, and unchanged ones, in case a first delivery stopped
    between the phases), in batch order."""
    outcomes: list[LabelOutcome | None] = [None] * len(labels)
    syncs: list[tuple[int, FraudSync]] = []
    for call, reply in zip(calls, replies, strict=True):
        values = _strings(reply, 2 * len(call.rows))
        for at, row in enumerate(call.rows):
            label, stored = values[2 * at], values[2 * at + 1]
            outcome = outcomes[row] = _OUTCOMES[label[:1]]
            fraud_at = _fraud_at(label[1:])
            if not stored or outcome.refused or (outcome is LabelOutcome.NEW and fraud_at is None):
                continue
            t, _, length, rest = stored.split(b"|", 3)
            tx_id = labels[row].transaction_id.encode()
            changed = outcome in (LabelOutcome.NEW, LabelOutcome.CORRECTED)
            syncs.append((row, FraudSync(changed, tx_id, rest[int(length) :], int(t), fraud_at)))
    syncs.sort(key=lambda pair: pair[0])
    return [outcome for outcome in outcomes if outcome is not None], [sync for _, sync in syncs]


def fraud_calls(
    layout: KeyLayout, syncs: Sequence[FraudSync], spec: FeatureSpec, *, per_bucket: bool, clock_ms: int | None = None
) -> list[ScriptCall]:
    """Phase 2 of labels: make each terminal's fraud set follow the final labels (pruning relative to
    ``min(t, clock_ms)``)."""
    calls = []
    for rows in group_rows([sync.terminal_id for sync in syncs], per_bucket):
        index: dict[bytes, int] = {}
        parts = []
        for row in rows:
            a = syncs[row]
            k = index.setdefault(layout.key(b"fraud", a.terminal_id), len(index) + 1)
            fraud_at = b"" if a.fraud_labeled_at_ms is None else b"%d" % a.fraud_labeled_at_ms
            tx_id = a.transaction_id
            parts.append(b"%d,%d,%d,%s,%d,%s" % (k, a.changed, a.event_time_ms, fraud_at, len(tx_id), tx_id))
        args = (b"1", spec.key_ttl_s, spec.terminal_horizon_ms, _clock(clock_ms), b"".join(parts))
        calls.append(ScriptCall(SYNC_FRAUDS, tuple(index), args, rows))
    return calls


def _strings(reply: object, count: int) -> list[bytes]:
    """A script's reply as ``count`` byte strings."""
    if not isinstance(reply, list) or len(reply) != count:
        raise RuntimeError(f"feature script returned {reply!r:.80}, not {count} strings")
    return [value.encode() if isinstance(value, str) else bytes(value) for value in reply]
