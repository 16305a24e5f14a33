"""Reusable field types and the limits of the event contracts.

Every constraint here is expressed twice on purpose: once for pydantic (enforced by its Rust core,
strict mode, no coercion) and once for the generated JSON Schema, so both accept the same payloads
as far as JSON Schema can express it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, Field, GetCoreSchemaHandler, Strict, WithJsonSchema
from pydantic_core import TzInfo, core_schema

__all__ = [
    "BASE64_PATTERN",
    "MAX_AMOUNT",
    "SCHEMA_TIMESTAMP_PATTERN",
    "SCHEMA_VERSION",
    "TIMESTAMP_PATTERN",
    "TIME_FLOOR",
    "Amount",
    "Base64",
    "Digest",
    "Identifier",
    "Lenient",
    "Metrics",
    "NonNegativeFloat",
    "Probability",
    "ShortText",
    "StrictInt",
    "Text",
    "Timestamp",
]

SCHEMA_VERSION: Final = 1
"""The one contract version this package reads and writes."""

MAX_AMOUNT: Final = 1_000_000.0
"""Largest plausible transaction amount; anything above is a producer bug, not a purchase."""

TIME_FLOOR: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""Timestamps before this instant are implausible (epoch-zero and unit mix-ups land here)."""

_TIME = r"[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"

TIMESTAMP_PATTERN: Final = r"^[0-9]{4}-" + _TIME
"""RFC 3339 date-time syntax with a mandatory offset, e.g. ``2018-04-01T00:00:31Z``."""

SCHEMA_TIMESTAMP_PATTERN: Final = r"^2[0-9]{3}-" + _TIME
"""The JSON Schema pattern: the syntax above plus year 2000-2999, the closest a pattern gets to
:data:`TIME_FLOOR` (the model checks the floor exactly, offset included)."""

BASE64_PATTERN: Final = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Standard, padded base64 (RFC 4648 section 4)."""


_UTC_TZINFO: Final = TzInfo(0)  # the tzinfo pydantic gives "...Z" timestamps


def _in_utc(value: datetime) -> datetime:
    """Normalise to UTC so equal instants encode identically (always with ``Z``)."""
    zone = value.tzinfo
    if zone is UTC or zone == _UTC_TZINFO:
        return value
    return value.astimezone(UTC)


class _RFC3339:
    """Core schema of :data:`Timestamp`: JSON must be a pattern-checked string, Python a datetime;
    both must be timezone-aware and not before :data:`TIME_FLOOR` (a ``greater_than_equal`` error,
    which :mod:`schemas.rejection` reports as an implausible time). All checks run in pydantic's
    Rust core; only the UTC normalisation is Python."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: object, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        syntax = core_schema.custom_error_schema(
            core_schema.str_schema(pattern=TIMESTAMP_PATTERN),
            custom_error_type="timestamp_format",
            custom_error_message="Input should be an RFC 3339 timestamp with an offset, e.g. 2018-04-01T00:00:31Z",
        )
        from_json = core_schema.chain_schema(
            [
                core_schema.str_schema(strict=True),  # a number is a wrong type, not a bad format
                syntax,
                core_schema.datetime_schema(tz_constraint="aware", strict=False, ge=TIME_FLOOR),
            ]
        )
        from_python = core_schema.datetime_schema(tz_constraint="aware", strict=True, ge=TIME_FLOOR)
        return core_schema.no_info_after_validator_function(
            _in_utc, core_schema.json_or_python_schema(json_schema=from_json, python_schema=from_python)
        )


Timestamp = Annotated[
    datetime,
    _RFC3339,
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": SCHEMA_TIMESTAMP_PATTERN}),
]
"""A timezone-aware instant at or after :data:`TIME_FLOOR`, held and encoded in UTC."""

StrictInt = Annotated[int, Strict()]
"""An integer; ``1.0``, ``"1"`` and ``true`` are not integers."""

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"\S")]
"""A non-blank identifier of at most 128 characters."""

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
"""A short human-readable string (a reason, a label)."""

Text = Annotated[str, Field(max_length=4096)]
"""A free-form message of at most 4096 characters."""

NonNegativeFloat = Annotated[float, Field(ge=0)]
"""A finite number >= 0."""

Probability = Annotated[float, Field(ge=0, le=1)]
"""A finite number in [0, 1]."""

Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT)]
"""A finite, non-negative amount of at most :data:`MAX_AMOUNT`."""

Digest = Annotated[str, Field(pattern=r"^(?:[0-9a-f]{2}){8,64}$")]
"""A lowercase hex digest of 8 to 64 bytes."""

Base64 = Annotated[
    str,
    Field(pattern=BASE64_PATTERN),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": BASE64_PATTERN,
            "contentEncoding": "base64",
        }
    ),
]
"""Bytes carried as standard padded base64."""


def _sorted_keys(value: dict[str, float]) -> dict[str, float]:
    return dict(sorted(value.items()))


Metrics = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=128)], float],
    AfterValidator(_sorted_keys),
]
"""Name -> finite number, stored with sorted keys so encoding is deterministic."""

Lenient = Strict(False)
"""Marker for enum fields: JSON strings are matched against the values (never coerced from other
types); in Python both the member and its value are accepted."""
