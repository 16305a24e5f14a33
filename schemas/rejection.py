"""Turning a failed validation into one precise, machine-readable rejection."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails, from_json

from schemas.enums import ReasonCode
from schemas.fields import SCHEMA_VERSION

__all__ = ["Rejected", "missing_schema_version", "rejection_from_error"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a message was refused: a stable ``reason_code``, the offending ``field`` (dotted path,
    ``None`` when the whole value is at fault) and a human ``message`` naming field and problem."""

    reason_code: ReasonCode
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.reason_code.value}: {self.message}"


_CODE_BY_ERROR: Final[dict[str, ReasonCode]] = {
    "missing": ReasonCode.MISSING_FIELD,
    "finite_number": ReasonCode.NON_FINITE,
    "enum": ReasonCode.INVALID_VALUE,
    "literal_error": ReasonCode.INVALID_VALUE,
    "is_instance_of": ReasonCode.WRONG_TYPE,
    **dict.fromkeys(
        [
            *("greater_than", "greater_than_equal", "less_than", "less_than_equal"),
            *("string_too_short", "string_too_long", "too_short", "too_long"),
        ],
        ReasonCode.OUT_OF_RANGE,
    ),
    **dict.fromkeys(
        [
            *("string_pattern_mismatch", "timestamp_format", "timezone_aware"),
            *("datetime_parsing", "datetime_from_date_parsing", "datetime_object_invalid"),
        ],
        ReasonCode.INVALID_FORMAT,
    ),
}

_SHOW_MAX: Final = 60
_LIST_MAX: Final = 5


def _code(error: ErrorDetails, time_fields: Collection[str]) -> ReasonCode:
    error_type = error["type"]
    if error_type == "greater_than_equal" and error["loc"][0] in time_fields:
        return ReasonCode.IMPLAUSIBLE_TIME  # the TIME_FLOOR bound of a Timestamp
    code = _CODE_BY_ERROR.get(error_type)
    if code is not None:
        return code
    return ReasonCode.WRONG_TYPE if error_type.endswith("_type") else ReasonCode.INVALID_VALUE


def _path(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"])


def _show(value: object) -> str:
    """A short JSON-ish rendering of an offending input (objects and arrays only by kind)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOW_MAX else text[: _SHOW_MAX - 3] + "..."


def _describe(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return f"{_path(error)}: {error['msg']}"
    return f"{_path(error)}: {error['msg']}, got {_show(error['input'])}"


def _has_schema_version(raw: bytes) -> bool:
    """Slow path only: whether the (parseable) JSON object carries a ``schema_version`` key."""
    document: object = from_json(raw)
    return isinstance(document, dict) and "schema_version" in document


def missing_schema_version() -> Rejected:
    """The rejection of a message without ``schema_version``."""
    return Rejected(
        ReasonCode.MISSING_FIELD,
        "schema_version",
        f"schema_version: Field required (this reader supports version {SCHEMA_VERSION})",
    )


def _with_others(first: str, errors: Sequence[ErrorDetails]) -> str:
    others = [_path(error) for error in errors[1:]]
    if not others:
        return first
    shown = ", ".join(others[:_LIST_MAX]) + (", ..." if len(others) > _LIST_MAX else "")
    return f"{first} (and {len(others)} more: {shown})"


def rejection_from_error(error: ValidationError, raw: bytes, *, time_fields: Collection[str] = ()) -> Rejected:
    """Map pydantic's errors for ``raw`` to one rejection (``time_fields``: the model's timestamps).

    Precedence: an unparseable document, then a non-object document, then the schema version
    (an unsupported or absent version explains every other error), then the first field error.
    """
    errors = error.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return Rejected(ReasonCode.INVALID_JSON, None, f"not a JSON document: {first['msg']}")
    if not first["loc"]:
        return Rejected(ReasonCode.WRONG_TYPE, None, f"the value must be a JSON object, got {_show(first['input'])}")
    for detail in errors:
        if detail["loc"][0] == "schema_version":
            shown = _show(detail["input"])
            message = f"schema_version: unsupported version {shown}, this reader supports {SCHEMA_VERSION}"
            return Rejected(ReasonCode.UNKNOWN_SCHEMA_VERSION, "schema_version", message)
    if not _has_schema_version(raw):
        return missing_schema_version()
    return Rejected(_code(first, time_fields), _path(first), _with_others(_describe(first), errors))
