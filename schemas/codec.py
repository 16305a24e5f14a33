"""Bytes <-> events: the hot-path decoder and the deterministic encoder.

Design: decoding never raises for bad input. :func:`decode` returns either :class:`Decoded` (the
event plus the names of unknown fields it ignored) or :class:`~schemas.rejection.Rejected` (a
reason code and a message naming the field), so a consumer loop is a ``match``/``isinstance`` and
a dead letter, not exception handling. ``now`` is always a parameter: nothing here reads a clock.

Checks, in order: empty, size, UTF-8 (only for non-ASCII values), then one strict
``model_validate_json`` pass in pydantic's Rust core, then the presence of ``schema_version`` and
the timestamps against ``now + future_tolerance``. (As in most JSON parsers, a duplicated key
keeps its last value.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.dead_letter import DeadLetter
from schemas.enums import ReasonCode
from schemas.events import Event, Label, ModelEvent, Transaction, Verdict
from schemas.rejection import Rejected, missing_schema_version, rejection_from_error

__all__ = [
    "DEFAULT_POLICY",
    "Batch",
    "DecodePolicy",
    "Decoded",
    "decode",
    "decode_batch",
    "decode_dead_letter",
    "decode_label",
    "decode_model_event",
    "decode_transaction",
    "decode_verdict",
    "encode",
]

E = TypeVar("E", bound=Event)


class Decoded(NamedTuple, Generic[E]):
    """A valid event and the unknown fields (dotted names) that were tolerated and dropped.

    A (generic) named tuple because it is built once per message on the hot path.
    """

    event: E
    unknown_fields: tuple[str, ...] = ()

    @property
    def unknown_count(self) -> int:
        """How many unknown fields the message carried."""
        return len(self.unknown_fields)


@dataclass(frozen=True, slots=True)
class DecodePolicy:
    """Limits applied on top of the contract."""

    max_bytes: int | None = None
    """Size limit of a value; ``None``: the event type's default (64 KiB, dead letters 4 MiB)."""
    future_tolerance: timedelta = timedelta(days=1)
    """How far after ``now`` a timestamp may be (clock skew between hosts)."""

    def __post_init__(self) -> None:
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if self.future_tolerance < timedelta(0):
            raise ValueError("future_tolerance must not be negative")


DEFAULT_POLICY = DecodePolicy()


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def _too_late(event: Event, time_fields: tuple[str, ...], now: datetime, tolerance: timedelta) -> Rejected | None:
    limit = now + tolerance
    for name in time_fields:
        value: datetime = getattr(event, name)
        if value > limit:
            message = (
                f"{name}: {value.isoformat()} is {value - now} after now ({now.isoformat()}),"
                f" more than the tolerated {tolerance}"
            )
            return Rejected(ReasonCode.IMPLAUSIBLE_TIME, name, message)
    return None


def _drop(part: BaseModel, prefix: str) -> tuple[str, ...]:
    """Remove the unknown fields of one model instance; return their names with ``prefix``."""
    extra = part.__pydantic_extra__
    if not extra:
        return ()
    names = tuple(prefix + name for name in extra)
    part.__pydantic_fields_set__.difference_update(extra)
    extra.clear()
    return names


def _drop_unknown(event: Event, nested_fields: tuple[str, ...]) -> tuple[str, ...]:
    """Remove unknown fields from ``event`` and its nested parts; return their dotted names."""
    names = _drop(event, "")
    for field in nested_fields:
        part: BaseModel | None = getattr(event, field)
        if part is not None:
            names += _drop(part, field + ".")
    return names


def _decode(raw: bytes | None, model: type[E], now: datetime, policy: DecodePolicy) -> Decoded[E] | Rejected:
    if not raw:
        return Rejected(
            ReasonCode.EMPTY, None, "the value is null (tombstone)" if raw is None else "the value is empty"
        )
    limit = policy.max_bytes or model.max_bytes
    if len(raw) > limit:
        return Rejected(ReasonCode.TOO_LARGE, None, f"the value is {len(raw)} bytes, over the {limit}-byte limit")
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            return Rejected(ReasonCode.NOT_UTF8, None, f"the value is not UTF-8: {error.reason} at byte {error.start}")
    try:
        # the model's own strict validator, without model_validate_json's Python wrapper
        event: E = model.__pydantic_validator__.validate_json(raw)
    except ValidationError as error:
        return rejection_from_error(error, raw, time_fields=model.time_fields)
    if "schema_version" not in event.__pydantic_fields_set__:
        return missing_schema_version()
    late = _too_late(event, model.time_fields, now, policy.future_tolerance)
    if late is not None:
        return late
    return Decoded(event, _drop_unknown(event, model.nested_fields))


def decode(
    raw: bytes | None, model: type[E], *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> Decoded[E] | Rejected:
    """Decode one Kafka value (``None``: a tombstone) as ``model``, judging times against ``now``."""
    _require_aware(now)
    return _decode(raw, model, now, policy)


def decode_transaction(
    raw: bytes | None, *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> Decoded[Transaction] | Rejected:
    """:func:`decode` for the transactions topic."""
    return decode(raw, Transaction, now=now, policy=policy)


def decode_label(
    raw: bytes | None, *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> Decoded[Label] | Rejected:
    """:func:`decode` for the labels topic."""
    return decode(raw, Label, now=now, policy=policy)


def decode_verdict(
    raw: bytes | None, *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> Decoded[Verdict] | Rejected:
    """:func:`decode` for the verdicts topic."""
    return decode(raw, Verdict, now=now, policy=policy)


def decode_model_event(
    raw: bytes | None, *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> Decoded[ModelEvent] | Rejected:
    """:func:`decode` for the model-events topic."""
    return decode(raw, ModelEvent, now=now, policy=policy)


def decode_dead_letter(
    raw: bytes | None, *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> Decoded[DeadLetter] | Rejected:
    """:func:`decode` for the dead-letter topic."""
    return decode(raw, DeadLetter, now=now, policy=policy)


@dataclass(frozen=True, slots=True)
class Batch(Generic[E]):
    """The outcome of :func:`decode_batch`, one result per input, in input order."""

    results: tuple[Decoded[E] | Rejected, ...]

    @property
    def events(self) -> list[E]:
        """The valid events, in input order."""
        return [result.event for result in self.results if isinstance(result, Decoded)]

    @property
    def rejected(self) -> list[tuple[int, Rejected]]:
        """``(input index, rejection)`` pairs, for dead-lettering the originals."""
        return [(index, result) for index, result in enumerate(self.results) if isinstance(result, Rejected)]

    @property
    def unknown_field_counts(self) -> Counter[str]:
        """How many accepted messages carried each unknown field."""
        return Counter(name for result in self.results if isinstance(result, Decoded) for name in result.unknown_fields)


def decode_batch(
    raws: Iterable[bytes | None], model: type[E], *, now: datetime, policy: DecodePolicy = DEFAULT_POLICY
) -> Batch[E]:
    """Decode many values of one topic against one reading of ``now``."""
    _require_aware(now)
    return Batch(tuple(_decode(raw, model, now, policy) for raw in raws))


def encode(event: Event) -> bytes:
    """Compact UTF-8 JSON of ``event``: fields in declaration order, mapping keys sorted,
    timestamps in UTC with ``Z``; the same event always gives the same bytes.

    Raises ``ValueError`` if the event carries unknown fields (a typo in a Python constructor):
    the contract is exactly the declared fields. Never writes ``NaN``/``Infinity``: validation
    refuses them (an instance built around validation, with ``model_construct`` or
    ``model_copy(update=...)``, would get ``null`` there, which every decoder rejects).
    """
    unknown = _unknown_names(event)
    if unknown:
        raise ValueError(f"{type(event).__name__} has fields outside its contract: {', '.join(unknown)}")
    return event.__pydantic_serializer__.to_json(event)


def _unknown_names(event: Event) -> list[str]:
    names = list(event.__pydantic_extra__ or ())
    for field in type(event).nested_fields:
        part: BaseModel | None = getattr(event, field)
        if part is not None:
            names.extend(f"{field}.{name}" for name in part.__pydantic_extra__ or ())
    return names
