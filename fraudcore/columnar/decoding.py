"""Decoding many topic values into columns, with the contract's rules (:mod:`schemas.codec`).

The per-event decoder validates each value with pydantic (about 15 us a value here): too slow for
millions. This module tries a fast path first (msgspec, a typed decoder in C, about 2.5 us) whose
acceptance implies the contract's: the fast structs below mirror the models' fields with the same
or stricter constraints, and a value it is not sure about goes to the per-event decoder, which then
decides (accepted or rejected, with its reason). So the columns and the rejections equal what
:func:`schemas.codec.decode` gives value by value (a unit test compares them on valid and hostile
inputs). The fast path only takes values that are ASCII, free of escapes, not deeply nested, within
the size limit, with timestamps in the plain form ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)``; event
times are converted by the same function as the feature facts (:func:`~fraudcore.features.definition.epoch_ms`),
amounts rounded to cents as :meth:`TxFacts.of` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fraudcore.features.definition import epoch_ms
from schemas.codec import DEFAULT_POLICY, Decoded, DecodePolicy, decode
from schemas.enums import Channel, LabelSource
from schemas.events import Label, Transaction
from schemas.fields import MAX_AMOUNT, SCHEMA_VERSION, TIME_FLOOR
from schemas.rejection import Rejected

__all__ = [
    "LabelColumns",
    "TransactionColumns",
    "decode_labels",
    "decode_transactions",
    "label_columns",
    "transaction_columns",
]

_FAST_TIME: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})$"
)
"""The timestamps the fast path converts (a subset of :data:`schemas.fields.TIMESTAMP_PATTERN`)."""

_MAX_BRACKETS: Final = 4
"""Values with more ``{`` and ``[`` than this go to the per-event decoder (its nesting limit decides)."""

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"\S")]
_Time = Annotated[str, msgspec.Meta(pattern=_FAST_TIME)]
_Version = Annotated[int, msgspec.Meta(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]


class _Location(msgspec.Struct):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class _Transaction(msgspec.Struct):
    schema_version: _Version
    transaction_id: _Id
    event_time: _Time
    customer_id: _Id
    terminal_id: _Id
    amount: Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] | None = None
    merchant_category: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$")] | None = None
    channel: Channel | None = None
    location: _Location | None = None
    fraud_scenario: Annotated[int, msgspec.Meta(ge=0, le=3)] | None = None


class _Label(msgspec.Struct):
    schema_version: _Version
    transaction_id: _Id
    is_fraud: bool
    labeled_at: _Time
    source: LabelSource
    customer_id: _Id | None = None
    terminal_id: _Id | None = None
    transaction_time: None = None
    """Labels carrying their transaction's time take the per-event path (its time rules decide)."""


FAST_FIELDS: Final = {
    Transaction: frozenset(_Transaction.__struct_fields__),
    Label: frozenset(_Label.__struct_fields__),
}
"""The fields the fast structs check, per model: a superset of the model's (a unit test holds it)."""

_TX_DECODER: Final = msgspec.json.Decoder(_Transaction)
_LABEL_DECODER: Final = msgspec.json.Decoder(_Label)


@dataclass(frozen=True)
class TransactionColumns:
    """The valid transactions of a batch, one row each, in input order."""

    index: npt.NDArray[np.int64]
    """Position of each row in the decoded batch."""
    transaction_id: pa.StringArray
    customer_id: pa.StringArray
    terminal_id: pa.StringArray
    event_time_ms: npt.NDArray[np.int64]
    amount_cents: npt.NDArray[np.int64]
    scenario: npt.NDArray[np.int8]
    """Simulated fraud scenario (-1 when absent)."""

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class LabelColumns:
    """The valid labels of a batch, one row each, in input order."""

    index: npt.NDArray[np.int64]
    transaction_id: pa.StringArray
    is_fraud: npt.NDArray[np.bool_]
    labeled_at_ms: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.index)


def _plain(raw: bytes | None, limit: int) -> bool:
    """Whether ``raw`` is one the fast path may judge."""
    return (
        raw is not None
        and 0 < len(raw) <= limit
        and raw.isascii()
        and b"\\" not in raw
        and raw.count(b"{") + raw.count(b"[") <= _MAX_BRACKETS
    )


def _time_ms(text: str, limit: datetime) -> int | None:
    """Epoch ms of a plain timestamp, or ``None`` when the per-event decoder must judge it."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment < TIME_FLOOR or moment > limit:
        return None
    return epoch_ms(moment)


def decode_transactions(
    raws: Sequence[bytes | None], *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> tuple[TransactionColumns, list[tuple[int, Rejected]]]:
    """Decode a batch of transaction values: the valid ones as columns, the others as
    ``(position, rejection)`` pairs, exactly as :func:`schemas.codec.decode` judges each."""
    limit, size = now + policy.future_tolerance, policy.max_bytes or Transaction.max_bytes
    index: list[int] = []
    ids: list[str] = []
    customers: list[str] = []
    terminals: list[str] = []
    times: list[int] = []
    amounts: list[float] = []
    scenarios: list[int] = []
    rejected: list[tuple[int, Rejected]] = []
    for position, raw in enumerate(raws):
        fast = None
        if _plain(raw, size):
            try:
                fast = _TX_DECODER.decode(raw)  # type: ignore[arg-type]  # _plain: not None
            except (msgspec.ValidationError, msgspec.DecodeError):
                fast = None
        t = None if fast is None else _time_ms(fast.event_time, limit)
        if fast is not None and t is not None:
            tx_id, customer, terminal, amount, scenario = (
                fast.transaction_id,
                fast.customer_id,
                fast.terminal_id,
                fast.amount,
                fast.fraud_scenario,
            )
        else:
            result = decode(raw, Transaction, now=now, policy=policy)
            if not isinstance(result, Decoded):
                rejected.append((position, result))
                continue
            event = result.event
            tx_id, customer, terminal, amount, scenario = (
                event.transaction_id,
                event.customer_id,
                event.terminal_id,
                event.amount,
                event.fraud_scenario,
            )
            t = epoch_ms(event.event_time)
        index.append(position)
        ids.append(tx_id)
        customers.append(customer)
        terminals.append(terminal)
        times.append(t)
        amounts.append(amount)
        scenarios.append(-1 if scenario is None else scenario)
    columns = TransactionColumns(
        index=np.array(index, dtype=np.int64),
        transaction_id=pa.array(ids, type=pa.string()),
        customer_id=pa.array(customers, type=pa.string()),
        terminal_id=pa.array(terminals, type=pa.string()),
        event_time_ms=np.array(times, dtype=np.int64),
        amount_cents=np.rint(np.array(amounts, dtype=np.float64) * 100).astype(np.int64),
        scenario=np.array(scenarios, dtype=np.int8),
    )
    return columns, rejected


def decode_labels(
    raws: Sequence[bytes | None], *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> tuple[LabelColumns, list[tuple[int, Rejected]]]:
    """Decode a batch of label values: the valid ones as columns, the others as ``(position,
    rejection)`` pairs, exactly as :func:`schemas.codec.decode` judges each."""
    limit, size = now + policy.future_tolerance, policy.max_bytes or Label.max_bytes
    index: list[int] = []
    ids: list[str] = []
    frauds: list[bool] = []
    times: list[int] = []
    rejected: list[tuple[int, Rejected]] = []
    for position, raw in enumerate(raws):
        fast = None
        if _plain(raw, size):
            try:
                fast = _LABEL_DECODER.decode(raw)  # type: ignore[arg-type]  # _plain: not None
            except (msgspec.ValidationError, msgspec.DecodeError):
                fast = None
        t = None if fast is None else _time_ms(fast.labeled_at, limit)
        if fast is not None and t is not None:
            tx_id, is_fraud = fast.transaction_id, fast.is_fraud
        else:
            result = decode(raw, Label, now=now, policy=policy)
            if not isinstance(result, Decoded):
                rejected.append((position, result))
                continue
            tx_id, is_fraud, t = result.event.transaction_id, result.event.is_fraud, epoch_ms(result.event.labeled_at)
        index.append(position)
        ids.append(tx_id)
        frauds.append(is_fraud)
        times.append(t)
    columns = LabelColumns(
        index=np.array(index, dtype=np.int64),
        transaction_id=pa.array(ids, type=pa.string()),
        is_fraud=np.array(frauds, dtype=np.bool_),
        labeled_at_ms=np.array(times, dtype=np.int64),
    )
    return columns, rejected


def transaction_columns(events: Sequence[Transaction]) -> TransactionColumns:
    """Columns of validated transaction events (the rows in their order)."""
    return TransactionColumns(
        index=np.arange(len(events), dtype=np.int64),
        transaction_id=pa.array([event.transaction_id for event in events], type=pa.string()),
        customer_id=pa.array([event.customer_id for event in events], type=pa.string()),
        terminal_id=pa.array([event.terminal_id for event in events], type=pa.string()),
        event_time_ms=np.array([epoch_ms(event.event_time) for event in events], dtype=np.int64),
        amount_cents=np.rint(np.array([event.amount for event in events], dtype=np.float64) * 100).astype(np.int64),
        scenario=np.array([-1 if e.fraud_scenario is None else e.fraud_scenario for e in events], dtype=np.int8),
    )


def label_columns(events: Sequence[Label]) -> LabelColumns:
    """Columns of validated label events (the rows in their order)."""
    return LabelColumns(
        index=np.arange(len(events), dtype=np.int64),
        transaction_id=pa.array([event.transaction_id for event in events], type=pa.string()),
        is_fraud=np.array([event.is_fraud for event in events], dtype=np.bool_),
        labeled_at_ms=np.array([epoch_ms(event.labeled_at) for event in events], dtype=np.int64),
    )
