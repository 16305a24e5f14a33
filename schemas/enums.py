"""String enums of the event contracts (their values are what travels on the wire)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Channel", "Decision", "LabelSource", "ModelEventKind", "ReasonCode", "RiskLevel"]


class Channel(StrEnum):
    """How the card was presented."""

    POS = "pos"
    ECOM = "ecom"
    ATM = "atm"
    MOTO = "moto"


class LabelSource(StrEnum):
    """Where a fraud label came from."""

    CHARGEBACK = "chargeback"
    INVESTIGATION = "investigation"
    CUSTOMER_REPORT = "customer_report"
    SIMULATED = "simulated"


class Decision(StrEnum):
    """What the scorer recommends doing with a transaction."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class RiskLevel(StrEnum):
    """Coarse bucket of the fraud score."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ModelEventKind(StrEnum):
    """Lifecycle events of the served model."""

    RELOAD = "reload"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    LOAD_FAILED = "load_failed"
    DRIFT_ALARM = "drift_alarm"


class ReasonCode(StrEnum):
    """Why a Kafka message was rejected (stable values: dashboards and alerts key on them)."""

    EMPTY = "empty"
    """Null or zero-length value."""
    TOO_LARGE = "too_large"
    """Value over the size limit; rejected before parsing."""
    NOT_UTF8 = "not_utf8"
    """Value is not valid UTF-8."""
    INVALID_JSON = "invalid_json"
    """Value is not a JSON document (truncated, garbage)."""
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    """``schema_version`` is present but not a version this reader supports."""
    MISSING_FIELD = "missing_field"
    """A required field (``schema_version`` included) is absent."""
    WRONG_TYPE = "wrong_type"
    """A field (or the document) has the wrong JSON type: ``"12.5"`` for a number, ``1`` for a bool."""
    NON_FINITE = "non_finite"
    """``NaN``, ``Infinity`` or a number overflowing a double."""
    OUT_OF_RANGE = "out_of_range"
    """A number outside its bounds, or a string/list of the wrong length."""
    INVALID_FORMAT = "invalid_format"
    """A string of the wrong shape: timestamp without offset, bad currency code, bad base64."""
    INVALID_VALUE = "invalid_value"
    """A value outside an enumeration (unknown channel, decision, ...)."""
    IMPLAUSIBLE_TIME = "implausible_time"
    """A timestamp before the floor (2000-01-01) or too far after the injected "now"."""
    STALE_EVENT_TIME = "stale_event_time"
    """A transaction too far behind the stream's event-time clock: beyond the claim horizon (the
    allowed lateness), where the feature store no longer holds its idempotency claim, so a
    redelivery could not be recognised and would count twice."""
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    """A transaction id recorded before with other facts (event time, amount, customer, terminal)."""
    LABEL_BEFORE_TRANSACTION = "label_before_transaction"
    """A label whose ``labeled_at`` is before its transaction's event time."""
    UNKNOWN_TRANSACTION = "unknown_transaction"
    """A label of a transaction not recorded (yet), when the held labels are at their bound."""
    UNJOINABLE_LABEL = "unjoinable_label"
    """A label that finds no claim of its transaction (not recorded yet in a running stream, or past
    the claim horizon) and does not carry the transaction's ``terminal_id`` and ``transaction_time``
    to join on or be held by."""
