"""Decoding many topic values into columns, with the contract's rules (:mod:`schemas.codec`).

The per-event decoder validates each value with pydantic (about 15 us a value here): too slow for
millions. This module tries a fast path first (msgspec, a typed decoder in C) whose acceptance
implies the contract's: the fast structs below mirror the models' fields with the same or stricter
constraints, and a value it is not sure about goes to the per-event decoder, which then decides
(accepted or rejected, with its reason). So the columns and the rejections equal what
:func:`schemas.codec.decode` gives value by value (a unit test compares them on valid and hostile
inputs). The fast path only takes values that are one JSON object on one line, ASCII, free of
escapes, not deeply nested, within the size limit (judged with numpy over the whole batch), with
timestamps in the plain form ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)``. It decodes thousands of
values per msgspec call (as newline-delimited JSON) and converts the timestamps with numpy, with
:meth:`datetime.fromisoformat`'s checks and :func:`~fraudcore.features.definition.epoch_ms`'s
rounding (sub-millisecond part floored); amounts are rounded to cents as :meth:`TxFacts.of` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

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

_TIME_WIDTH: Final = 32
"""The longest plain timestamp (``YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM``)."""

_MONTH_DAYS: Final = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_FLOOR_US: Final = (TIME_FLOOR - _EPOCH) // _MICROSECOND

_CHUNK: Final = 4096
"""Values one msgspec call decodes at most (a chunk holding a value it refuses is decoded value by value)."""

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
r"""An id (and ``pattern=r"\S"``: checked on the batch by :func:`_has_text`, msgspec's patterns cost a
Python ``re`` call a value)."""
_Time = str
"""A timestamp (and the :data:`_FAST_TIME` pattern: checked on the batch by :func:`_times_ms`)."""
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


def _plain(raws: Sequence[bytes | None], limit: int) -> tuple[npt.NDArray[np.bool_], bytes]:
    """Per value, whether the fast path may judge it (one JSON object on one line: ``{`` first, ``}``
    last, no line break; ASCII, no escapes, few brackets, within the size limit), judged with numpy
    over the values joined by line feeds; and that joined buffer."""
    count = len(raws)
    lengths = np.fromiter((0 if raw is None else len(raw) for raw in raws), dtype=np.int64, count=count)
    joined = b"\n".join([b"" if raw is None else raw for raw in raws])
    data = np.frombuffer(joined, dtype=np.uint8)
    starts = np.zeros(count, dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=starts[1:])
    ends = starts + lengths

    def per_value(hits: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        owners = np.searchsorted(starts, np.flatnonzero(hits), side="right") - 1
        return np.bincount(owners, minlength=count)

    plain = (lengths > 0) & (lengths <= limit) & (per_value((data == ord("{")) | (data == ord("["))) <= _MAX_BRACKETS)
    if not joined.isascii() or b"\\" in joined or b"\r" in joined or joined.count(b"\n") > count - 1:
        breaks = data == ord("\n")
        breaks[ends[:-1]] = False  # the separators
        plain &= per_value((data >= 0x80) | (data == ord("\\")) | (data == ord("\r")) | breaks) == 0
    some = np.flatnonzero(plain)
    plain[some] = (data[starts[some]] == ord("{")) & (data[ends[some] - 1] == ord("}"))
    return plain, joined


def _fast_rows(
    raws: Sequence[bytes | None], limit: int, decoder: msgspec.json.Decoder[Any]
) -> tuple[npt.NDArray[np.int64], list[Any]]:
    """The positions and fast structs of the values the fast path accepts, in input order (the
    others are left to the per-event decoder). Chunks of plain values are decoded by one msgspec
    call each (as lines: every value is one object on one line, so each line is one value); a chunk
    with a value msgspec refuses is decoded value by value."""
    positions: list[npt.NDArray[np.int64]] = []
    rows: list[Any] = []
    for at in range(0, len(raws), _CHUNK):
        chunk = raws[at : at + _CHUNK]
        plain, joined = _plain(chunk, limit)
        picked = np.flatnonzero(plain)
        if len(picked) < len(chunk):
            joined = b"\n".join([chunk[i] or b"" for i in picked.tolist()])
        try:
            decoded = decoder.decode_lines(joined) if len(picked) else []
        except (msgspec.ValidationError, msgspec.DecodeError):
            decoded = None
        if decoded is not None and len(decoded) == len(picked):
            positions.append(picked + at)
            rows += decoded
            continue
        accepted = []
        for i in picked.tolist():
            try:
                rows.append(decoder.decode(chunk[i]))  # type: ignore[arg-type]  # plain: not None
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue
            accepted.append(at + i)
        positions.append(np.array(accepted, dtype=np.int64))
    return (np.concatenate(positions) if positions else np.empty(0, dtype=np.int64)), rows


def _times_ms(texts: list[str], limit: datetime) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Epoch ms of timestamps, computed with numpy, and which ones the fast path takes: those of the
    plain form (:data:`_FAST_TIME`) that are a real date and time (as :meth:`datetime.fromisoformat`
    checks: month, day of the month, hour, minute, second, an offset under a day) from
    :data:`TIME_FLOOR` to ``limit``; the others the per-event decoder judges."""
    count = len(texts)
    if count > _CHUNK:  # bounded temporaries (32 int64 a value)
        parts = [_times_ms(texts[at : at + _CHUNK], limit) for at in range(0, count, _CHUNK)]
        return np.concatenate([times for times, _ in parts]), np.concatenate([ok for _, ok in parts])
    plain = pc.match_substring_regex(pa.array(texts, type=pa.string()), _FAST_TIME).to_numpy(zero_copy_only=False)
    chars = np.array(texts, dtype=f"S{_TIME_WIDTH}").view(np.uint8).reshape(count, _TIME_WIDTH).astype(np.int64)
    digits = chars - ord("0")
    rows = np.arange(count)

    def number(first: int, width: int) -> npt.NDArray[np.int64]:
        value = np.zeros(count, dtype=np.int64)
        for column in range(first, first + width):
            value = value * 10 + digits[:, column]
        return value

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hour, minute, second = number(11, 2), number(14, 2), number(17, 2)
    fraction = chars[:, 19] == ord(".")
    is_digit = (digits[:, 20:26] >= 0) & (digits[:, 20:26] <= 9) & fraction[:, None]
    places = np.cumprod(is_digit, axis=1).sum(axis=1)
    micros = np.zeros(count, dtype=np.int64)
    for place in range(6):
        micros += np.where(place < places, digits[:, 20 + place], 0) * 10 ** (5 - place)
    zone = 19 + np.where(fraction, 1 + places, 0)
    sign = chars[rows, zone]
    zone_digits = digits[rows[:, None], np.minimum(zone[:, None] + [1, 2, 4, 5], _TIME_WIDTH - 1)]
    offset_minutes = (zone_digits[:, 0] * 10 + zone_digits[:, 1]) * 60 + zone_digits[:, 2] * 10 + zone_digits[:, 3]
    offset_minutes = np.where(sign == ord("Z"), 0, np.where(sign == ord("-"), -offset_minutes, offset_minutes))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.clip(month, 1, 12)] + ((month == 2) & leap)
    real = (
        (year >= 1)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= month_days)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
        & (zone_digits[:, 2] <= 5)  # offset minutes 00..59, as the per-event decoder requires
        & (np.abs(offset_minutes) < 24 * 60)
    )
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60
    instant_us = seconds * 1_000_000 + micros
    ok = (
        np.asarray(plain, dtype=np.bool_)
        & real
        & (instant_us >= _FLOOR_US)
        & (instant_us <= (limit - _EPOCH) // _MICROSECOND)
    )
    return seconds * 1_000 + micros // 1_000, ok


def _days_from_civil(
    year: npt.NDArray[np.int64], month: npt.NDArray[np.int64], day: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days: npt.NDArray[np.int64] = era * 146_097 + day_of_era - 719_468
    return days


def _has_text(ids: pa.Array) -> npt.NDArray[np.bool_]:
    """Per id, whether it has a character other than white space (a missing one passes). The fast
    path's strings are printable ASCII (no escapes, and JSON has no raw control characters)."""
    found = pc.match_substring_regex(ids, r"\S").fill_null(True)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _slow_positions(count: int, fast: npt.NDArray[np.int64]) -> list[int]:
    """The positions not in ``fast``."""
    slow = np.ones(count, dtype=np.bool_)
    slow[fast] = False
    return np.flatnonzero(slow).tolist()


def _in_order(
    fast: npt.NDArray[np.int64], slow: list[int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """The positions of the fast rows then the slow ones, sorted; and the order that sorts them
    (``None``: already sorted)."""
    if not slow:
        return fast, None
    positions = np.concatenate((fast, np.array(slow, dtype=np.int64)))
    order = np.argsort(positions, kind="stable")
    return positions[order], order


def _strings(fast: pa.Array, slow: list[str], order: npt.NDArray[np.int64] | None) -> pa.StringArray:
    if order is None:
        return fast
    array = pa.concat_arrays([fast, pa.array(slow, type=pa.string())])
    return array.take(order)


def _numbers(fast: npt.ArrayLike, slow: list[Any], order: npt.NDArray[np.int64] | None, dtype: Any) -> Any:
    values = np.concatenate((np.asarray(fast, dtype=dtype), np.array(slow, dtype=dtype)))
    return values if order is None else values[order]


def decode_transactions(
    raws: Sequence[bytes | None], *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> tuple[TransactionColumns, list[tuple[int, Rejected]]]:
    """Decode a batch of transaction values: the valid ones as columns, the others as
    ``(position, rejection)`` pairs, exactly as :func:`schemas.codec.decode` judges each."""
    limit, size = now + policy.future_tolerance, policy.max_bytes or Transaction.max_bytes
    fast, rows = _fast_rows(raws, size, _TX_DECODER)
    ids = pa.array([row.transaction_id for row in rows], type=pa.string())
    customers = pa.array([row.customer_id for row in rows], type=pa.string())
    terminals = pa.array([row.terminal_id for row in rows], type=pa.string())
    times, ok = _times_ms([row.event_time for row in rows], limit)
    ok &= _has_text(ids) & _has_text(customers) & _has_text(terminals)
    amounts = np.array([row.amount for row in rows], dtype=np.float64)
    scenarios = np.array([-1 if row.fraud_scenario is None else row.fraud_scenario for row in rows], dtype=np.int8)
    if not ok.all():
        kept = pa.array(ok)
        fast, times, amounts, scenarios = fast[ok], times[ok], amounts[ok], scenarios[ok]
        ids, customers, terminals = ids.filter(kept), customers.filter(kept), terminals.filter(kept)
    slow: list[tuple[int, Transaction]] = []
    rejected: list[tuple[int, Rejected]] = []
    for position in _slow_positions(len(raws), fast):
        result = decode(raws[position], Transaction, now=now, policy=policy)
        if isinstance(result, Decoded):
            slow.append((position, result.event))
        else:
            rejected.append((position, result))
    index, order = _in_order(fast, [position for position, _ in slow])
    events = [event for _, event in slow]
    columns = TransactionColumns(
        index=index,
        transaction_id=_strings(ids, [e.transaction_id for e in events], order),
        customer_id=_strings(customers, [e.customer_id for e in events], order),
        terminal_id=_strings(terminals, [e.terminal_id for e in events], order),
        event_time_ms=_numbers(times, [epoch_ms(e.event_time) for e in events], order, np.int64),
        amount_cents=np.rint(_numbers(amounts, [e.amount for e in events], order, np.float64) * 100).astype(np.int64),
        scenario=_numbers(
            scenarios, [-1 if e.fraud_scenario is None else e.fraud_scenario for e in events], order, np.int8
        ),
    )
    return columns, rejected


def decode_labels(
    raws: Sequence[bytes | None], *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> tuple[LabelColumns, list[tuple[int, Rejected]]]:
    """Decode a batch of label values: the valid ones as columns, the others as ``(position,
    rejection)`` pairs, exactly as :func:`schemas.codec.decode` judges each."""
    limit, size = now + policy.future_tolerance, policy.max_bytes or Label.max_bytes
    fast, rows = _fast_rows(raws, size, _LABEL_DECODER)
    ids = pa.array([row.transaction_id for row in rows], type=pa.string())
    times, ok = _times_ms([row.labeled_at for row in rows], limit)
    ok &= _has_text(ids)
    ok &= _has_text(pa.array([row.customer_id for row in rows], type=pa.string()))
    ok &= _has_text(pa.array([row.terminal_id for row in rows], type=pa.string()))
    frauds = np.array([row.is_fraud for row in rows], dtype=np.bool_)
    if not ok.all():
        fast, times, frauds, ids = fast[ok], times[ok], frauds[ok], ids.filter(pa.array(ok))
    slow: list[tuple[int, Label]] = []
    rejected: list[tuple[int, Rejected]] = []
    for position in _slow_positions(len(raws), fast):
        result = decode(raws[position], Label, now=now, policy=policy)
        if isinstance(result, Decoded):
            slow.append((position, result.event))
        else:
            rejected.append((position, result))
    index, order = _in_order(fast, [position for position, _ in slow])
    events = [event for _, event in slow]
    columns = LabelColumns(
        index=index,
        transaction_id=_strings(ids, [e.transaction_id for e in events], order),
        is_fraud=_numbers(frauds, [e.is_fraud for e in events], order, np.bool_),
        labeled_at_ms=_numbers(times, [epoch_ms(e.labeled_at) for e in events], order, np.int64),
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
