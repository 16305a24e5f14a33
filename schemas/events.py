"""The versioned event models: what travels as JSON on the fraudstream topics.

All models are strict (no coercion: ``"12.5"`` is not a number, ``1`` is not a bool), frozen, reject
non-finite numbers, and *allow* unknown fields so producers can add fields without breaking
consumers; :func:`schemas.codec.decode` counts those fields and drops them from the event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from schemas.enums import Channel, Decision, LabelSource, ModelEventKind, RiskLevel
from schemas.fields import (
    SCHEMA_VERSION,
    Amount,
    Digest,
    Identifier,
    Lenient,
    Metrics,
    NonNegativeFloat,
    Probability,
    ShortText,
    StrictInt,
    Text,
    Timestamp,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Event",
    "FeatureDigester",
    "Label",
    "Location",
    "ModelEvent",
    "Transaction",
    "Verdict",
    "digest_features",
]

DEFAULT_MAX_BYTES: Final = 64 * 1024
"""Largest encoded event a consumer accepts (checked before parsing)."""

SchemaVersion = Annotated[
    StrictInt,
    Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION),
    WithJsonSchema({"type": "integer", "const": SCHEMA_VERSION}),
]


_PART_CONFIG: Final = ConfigDict(
    strict=True,
    extra="allow",
    frozen=True,
    allow_inf_nan=False,
    use_attribute_docstrings=True,
)


class Event(BaseModel):
    """Base of every top-level event: the ``schema_version`` and the decoding metadata."""

    model_config = _PART_CONFIG

    event_name: ClassVar[str]
    """File-name stem of the event's JSON Schema (``<event_name>.v1.schema.json``)."""
    time_fields: ClassVar[tuple[str, ...]] = ()
    """Timestamp fields checked against the decoder's injected "now"."""
    nested_fields: ClassVar[tuple[str, ...]] = ()
    """Fields holding nested models whose unknown fields are counted too."""
    max_bytes: ClassVar[int] = DEFAULT_MAX_BYTES
    """Default size limit of one encoded event."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    """Contract version; only version 1 exists. Defaulted for Python callers, but required on the
    wire: the decoder rejects a message without it and the JSON Schema lists it as required."""


class Location(BaseModel):
    """Where the terminal is, in WGS 84 degrees."""

    model_config = _PART_CONFIG

    lat: Annotated[float, Field(ge=-90, le=90)]
    """Latitude in degrees."""
    lon: Annotated[float, Field(ge=-180, le=180)]
    """Longitude in degrees."""


class Transaction(Event):
    """A card payment, keyed by ``customer_id`` on the transactions topic."""

    event_name: ClassVar[str] = "transaction"
    time_fields: ClassVar[tuple[str, ...]] = ("event_time",)
    nested_fields: ClassVar[tuple[str, ...]] = ("location",)

    transaction_id: Identifier
    """Unique id of the transaction."""
    event_time: Timestamp
    """When the payment happened (RFC 3339 with offset, encoded in UTC)."""
    customer_id: Identifier
    """The card (customer) id."""
    terminal_id: Identifier
    """The payment terminal id."""
    amount: Amount
    """Amount in the currency's major unit, finite, 0 to 1,000,000."""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    """ISO 4217 alphabetic code."""
    merchant_category: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None
    """ISO 18245 merchant category code (4 digits)."""
    channel: Annotated[Channel, Lenient] | None = None
    """How the card was presented."""
    location: Location | None = None
    """Terminal location."""
    fraud_scenario: Annotated[StrictInt, Field(ge=0, le=3)] | None = None
    """Simulated data only: which fraud scenario produced the transaction (0 = genuine)."""


class Label(Event):
    """The ground truth of a transaction, known some time after it happened."""

    event_name: ClassVar[str] = "label"
    time_fields: ClassVar[tuple[str, ...]] = ("labeled_at",)

    transaction_id: Identifier
    """The labelled transaction."""
    is_fraud: bool
    """Whether the transaction was fraudulent."""
    labeled_at: Timestamp
    """When the label became known."""
    source: Annotated[LabelSource, Lenient]
    """Where the label came from."""
    customer_id: Identifier | None = None
    """The card id, when the labeller knows it (it is the Kafka key)."""
    terminal_id: Identifier | None = None
    """The labelled transaction's terminal, when the labeller knows it. With ``transaction_time``, it
    lets the label count in its terminal's risk after the transaction's idempotency claim expired."""
    transaction_time: Timestamp | None = None
    """The labelled transaction's event time, when the labeller knows it (see ``terminal_id``)."""


class Verdict(Event):
    """The scorer's output for one transaction."""

    event_name: ClassVar[str] = "verdict"
    time_fields: ClassVar[tuple[str, ...]] = ("scored_at",)

    transaction_id: Identifier
    """The scored transaction."""
    customer_id: Identifier
    """The card id of the scored transaction."""
    score: Probability
    """Fraud probability in [0, 1]."""
    decision: Annotated[Decision, Lenient]
    """What to do with the transaction."""
    risk_level: Annotated[RiskLevel, Lenient]
    """Coarse risk bucket."""
    model_name: Identifier
    """Registered name of the model that scored."""
    model_version: Identifier
    """Version of that model."""
    features: Metrics
    """Feature values the model saw, by name (encoded with sorted keys)."""
    feature_digest: Digest
    """Hex digest of ``features`` (see :func:`digest_features`)."""
    scoring_latency_s: NonNegativeFloat
    """Seconds from receiving the transaction to emitting the verdict."""
    reasons: Annotated[list[ShortText], Field(max_length=32)]
    """Short human-readable reasons behind the decision."""
    scored_at: Timestamp
    """When the verdict was produced."""
    shadow_score: Probability | None = None
    """Score of the challenger model when shadow scoring is on; never used for the decision."""
    shadow_model_version: Identifier | None = None
    """Version of the challenger that produced ``shadow_score``."""


class ModelEvent(Event):
    """A lifecycle event of the served model (reloads, promotions, failures, drift alarms)."""

    event_name: ClassVar[str] = "model_event"
    time_fields: ClassVar[tuple[str, ...]] = ("at",)

    kind: Annotated[ModelEventKind, Lenient]
    """What happened."""
    model_name: Identifier
    """Registered model name."""
    model_version: Identifier
    """The version now served (or that failed to load)."""
    previous_version: Identifier | None = None
    """The version served before, if any."""
    metrics: Metrics
    """Numbers behind the event (validation scores, drift statistics), by name."""
    message: Text
    """Human-readable explanation."""
    at: Timestamp
    """When it happened."""


def digest_features(features: Mapping[str, float]) -> str:
    """SHA-256 hex digest of ``features``, independent of key order (for :attr:`Verdict.feature_digest`)."""
    canonical = json.dumps(sorted(features.items()), separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class FeatureDigester:
    """:func:`digest_features` for many rows sharing the same names, several times faster.

    Build it with the names in sorted order and pass each row's values in that order; finite
    floats only (as in a verdict). The result equals ``digest_features(dict(zip(names, values)))``.
    """

    def __init__(self, sorted_names: Sequence[str]) -> None:
        if list(sorted_names) != sorted(sorted_names):
            raise ValueError("the names must be sorted")
        self._heads = ["[" + json.dumps(name) + "," for name in sorted_names]

    def __call__(self, values: Sequence[float]) -> str:
        canonical = (
            "["
            + ",".join(head + float.__repr__(value) + "]" for head, value in zip(self._heads, values, strict=True))
            + "]"
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
