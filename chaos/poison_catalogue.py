"""The poison inputs of the ``poison`` scenario: each kind's bytes and the outcome the contract promises.

Every kind is made from a valid transaction of the stream (its customer, terminal and event time) under
an id of its own (``poison-<serial>``), so a poison input wrongly scored shows as a verdict of a
transaction never sent, and one wrongly refused as a valid transaction without a verdict. What each
kind must become follows :mod:`schemas`: unknown fields are tolerated, amounts are finite within
``[0, MAX_AMOUNT]``, timestamps from 2000 on and at most a day ahead, a value at most 64 KiB.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from schemas.fields import MAX_AMOUNT

__all__ = ["CATALOGUE", "DUPLICATE", "ENORMOUS_BYTES", "Expected", "PoisonKind"]

ENORMOUS_BYTES: Final = 900_000
"""Size of an enormous input: over the contract's 64 KiB, under the broker's default 1 MiB record limit."""

Document = dict[str, Any]


class Expected(StrEnum):
    """What the scorer must do with an input."""

    DEAD_LETTERED = "dead-lettered"
    SCORED = "accepted and scored"


@dataclass(frozen=True)
class PoisonKind:
    """One kind of poison input."""

    name: str
    expected: Expected
    make: Callable[[Document, random.Random], bytes]
    """The bytes, from a valid transaction's JSON document (already under its poison id) and a seeded generator."""


def _dumps(document: object) -> bytes:
    """Compact JSON; ``NaN`` and ``Infinity`` written as Python's (and JavaScript's) literals."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _with(**changes: Any) -> Callable[[Document, random.Random], bytes]:
    return lambda document, _: _dumps(document | changes)


def _without(name: str) -> Callable[[Document, random.Random], bytes]:
    return lambda document, _: _dumps({key: value for key, value in document.items() if key != name})


def _truncated(document: Document, rng: random.Random) -> bytes:
    whole = _dumps(document)
    return whole[: rng.randrange(len(whole) // 2, len(whole) - 1)]


def _overflowing_amount(document: Document, _: random.Random) -> bytes:
    """``1e999``: valid JSON syntax, a double's overflow (infinity) once parsed."""
    return _dumps(document | {"amount": 0.5}).replace(b'"amount":0.5', b'"amount":1e999', 1)


def _not_utf8(document: Document, rng: random.Random) -> bytes:
    stray = bytes([rng.choice([0xFF, 0xFE, 0xC0, 0x80])])
    return _dumps(document).replace(b'"customer_id":"', b'"customer_id":"' + stray, 1)


def _unknown_fields(document: Document, rng: random.Random) -> bytes:
    extra = {"loyalty_tier": rng.choice(["gold", "silver"]), "device": {"os": "android", "rooted": False}}
    return _dumps(document | extra)


def _enormous(document: Document, _: random.Random) -> bytes:
    """A valid transaction padded with an unknown field to :data:`ENORMOUS_BYTES`."""
    bare = _dumps(document | {"padding": ""})
    return _dumps(document | {"padding": "x" * (ENORMOUS_BYTES - len(bare))})


CATALOGUE: Final[tuple[PoisonKind, ...]] = (
    PoisonKind("truncated JSON", Expected.DEAD_LETTERED, _truncated),
    PoisonKind("JSON array, not an object", Expected.DEAD_LETTERED, lambda document, _: _dumps([document])),
    PoisonKind("amount as a string", Expected.DEAD_LETTERED, lambda d, _: _dumps(d | {"amount": str(d["amount"])})),
    PoisonKind("customer_id as a number", Expected.DEAD_LETTERED, _with(customer_id=596)),
    PoisonKind("terminal_id missing", Expected.DEAD_LETTERED, _without("terminal_id")),
    PoisonKind("schema_version missing", Expected.DEAD_LETTERED, _without("schema_version")),
    PoisonKind("schema_version 2", Expected.DEAD_LETTERED, _with(schema_version=2)),
    PoisonKind("unknown fields", Expected.SCORED, _unknown_fields),
    PoisonKind("amount NaN", Expected.DEAD_LETTERED, _with(amount=float("nan"))),
    PoisonKind("amount -Infinity", Expected.DEAD_LETTERED, _with(amount=float("-inf"))),
    PoisonKind("amount 1e999 (overflow)", Expected.DEAD_LETTERED, _overflowing_amount),
    PoisonKind("amount negative", Expected.DEAD_LETTERED, _with(amount=-12.5)),
    PoisonKind("amount huge (1e12)", Expected.DEAD_LETTERED, _with(amount=1e12)),
    PoisonKind("amount at the limit (1,000,000)", Expected.SCORED, _with(amount=MAX_AMOUNT)),
    PoisonKind("non-UTF-8 byte", Expected.DEAD_LETTERED, _not_utf8),
    PoisonKind("empty value", Expected.DEAD_LETTERED, lambda document, _: b""),
    PoisonKind("customer_id empty string", Expected.DEAD_LETTERED, _with(customer_id="")),
    PoisonKind("terminal_id blank", Expected.DEAD_LETTERED, _with(terminal_id="   ")),
    PoisonKind(f"enormous ({ENORMOUS_BYTES:,} bytes)", Expected.DEAD_LETTERED, _enormous),
    PoisonKind("event_time 1970 (epoch zero)", Expected.DEAD_LETTERED, _with(event_time="1970-01-01T00:00:00Z")),
    PoisonKind("event_time year 2999", Expected.DEAD_LETTERED, _with(event_time="2999-01-01T00:00:00Z")),
)
"""Every kind made from a document under an id of its own."""

DUPLICATE: Final = PoisonKind("transaction id sent twice", Expected.SCORED, lambda document, _: _dumps(document))
"""A valid transaction sent again (its own document, id included): scored again with the same features, its
online features not counted twice."""
