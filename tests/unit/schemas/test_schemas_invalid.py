"""Invalid payloads: the exact rejection of each, and agreement with the shipped JSON Schemas."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Final

import pytest
from jsonschema import Draft202012Validator

from schemas import (
    DeadLetter,
    Decoded,
    Event,
    Label,
    ModelEvent,
    ReasonCode,
    Rejected,
    Transaction,
    Verdict,
    decode,
    encode,
)
from schemas.examples import (
    EXAMPLE_NOW,
    example_dead_letter,
    example_label,
    example_model_event,
    example_transaction,
    example_verdict,
    transaction_payloads,
)
from schemas.generate import schema_path

pytestmark = pytest.mark.unit

DROP: Final = object()
"""Marks a field to remove from a payload."""


class Kind(Enum):
    """Who can see that a payload is invalid."""

    BOTH = "model and JSON Schema"
    NOT_JSON = "model; the value is not a JSON document, so a strict JSON parser fails before any schema"
    MODEL_ONLY = "model only; JSON Schema cannot express it and accepts the payload"


@dataclass(frozen=True)
class Case:
    id: str
    model: type[Event]
    raw: bytes
    code: ReasonCode
    field: str | None
    kind: Kind


def _payload(event: Event, **changes: object) -> bytes:
    """``event`` as JSON with fields replaced (``DROP`` removes one); NaN/Infinity are emitted as tokens."""
    document = json.loads(encode(event))
    for name, value in changes.items():
        if value is DROP:
            del document[name]
        else:
            document[name] = value
    return json.dumps(document).encode("utf-8")


def _tx(**changes: object) -> bytes:
    return _payload(example_transaction(), **changes)


def _label(**changes: object) -> bytes:
    return _payload(example_label(), **changes)


def _verdict(**changes: object) -> bytes:
    return _payload(example_verdict(), **changes)


def _model_event(**changes: object) -> bytes:
    return _payload(example_model_event(), **changes)


def _dead_letter(**changes: object) -> bytes:
    return _payload(example_dead_letter(), **changes)


def _ahead(**delta: float) -> str:
    """The RFC 3339 timestamp ``delta`` after the injected "now"."""
    return (EXAMPLE_NOW + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


NAN: Final = float("nan")
INF: Final = float("inf")
AMOUNT_1E999: Final = _tx(amount=1).replace(b'"amount": 1,', b'"amount": 1e999,')


TX, B, NJ, MO = Transaction, Kind.BOTH, Kind.NOT_JSON, Kind.MODEL_ONLY
C = ReasonCode

CASES: Final = [
    # amount
    Case("amount-as-string", TX, _tx(amount="12.5"), C.WRONG_TYPE, "amount", B),
    Case("amount-as-bool", TX, _tx(amount=True), C.WRONG_TYPE, "amount", B),
    Case("amount-nan", TX, _tx(amount=NAN), C.NON_FINITE, "amount", NJ),
    Case("amount-infinity", TX, _tx(amount=INF), C.NON_FINITE, "amount", NJ),
    Case("amount-minus-infinity", TX, _tx(amount=-INF), C.NON_FINITE, "amount", NJ),
    Case("amount-overflows-double", TX, AMOUNT_1E999, C.NON_FINITE, "amount", B),
    Case("amount-negative", TX, _tx(amount=-1), C.OUT_OF_RANGE, "amount", B),
    Case("amount-absurd", TX, _tx(amount=1e12), C.OUT_OF_RANGE, "amount", B),
    # identifiers
    Case("customer-id-missing", TX, _tx(customer_id=DROP), C.MISSING_FIELD, "customer_id", B),
    Case("customer-id-null", TX, _tx(customer_id=None), C.WRONG_TYPE, "customer_id", B),
    Case("customer-id-as-int", TX, _tx(customer_id=596), C.WRONG_TYPE, "customer_id", B),
    Case("customer-id-empty", TX, _tx(customer_id=""), C.OUT_OF_RANGE, "customer_id", B),
    Case("customer-id-blank", TX, _tx(customer_id="   "), C.INVALID_FORMAT, "customer_id", B),
    Case("transaction-id-too-long", TX, _tx(transaction_id="t" * 129), C.OUT_OF_RANGE, "transaction_id", B),
    # timestamps
    Case("time-without-timezone", TX, _tx(event_time="2018-04-01T00:00:31"), C.INVALID_FORMAT, "event_time", B),
    Case("time-unparseable", TX, _tx(event_time="yesterday"), C.INVALID_FORMAT, "event_time", B),
    Case("time-space-separator", TX, _tx(event_time="2018-04-01 00:00:31Z"), C.INVALID_FORMAT, "event_time", B),
    Case("time-epoch-in-string", TX, _tx(event_time="1522540831"), C.INVALID_FORMAT, "event_time", B),
    Case("time-epoch-number", TX, _tx(event_time=1522540831), C.WRONG_TYPE, "event_time", B),
    Case("time-year-1970", TX, _tx(event_time="1970-01-01T00:00:00Z"), C.IMPLAUSIBLE_TIME, "event_time", B),
    Case("time-one-year-ahead", TX, _tx(event_time=_ahead(days=365)), C.IMPLAUSIBLE_TIME, "event_time", MO),
    Case("time-past-tolerance", TX, _tx(event_time=_ahead(days=1, seconds=1)), C.IMPLAUSIBLE_TIME, "event_time", MO),
    # optional fields
    Case("fraud-scenario-4", TX, _tx(fraud_scenario=4), C.OUT_OF_RANGE, "fraud_scenario", B),
    Case("fraud-scenario-as-string", TX, _tx(fraud_scenario="1"), C.WRONG_TYPE, "fraud_scenario", B),
    Case("fraud-scenario-1.0", TX, _tx(fraud_scenario=1.0), C.WRONG_TYPE, "fraud_scenario", MO),
    Case("channel-unknown", TX, _tx(channel="bike"), C.INVALID_VALUE, "channel", B),
    Case("currency-lowercase", TX, _tx(currency="eur"), C.INVALID_FORMAT, "currency", B),
    Case("mcc-as-int", TX, _tx(merchant_category=5411), C.WRONG_TYPE, "merchant_category", B),
    Case("latitude-91", TX, _tx(location={"lat": 91.0, "lon": 0.0}), C.OUT_OF_RANGE, "location.lat", B),
    Case("location-as-string", TX, _tx(location="Brussels"), C.WRONG_TYPE, "location", B),
    # schema version
    Case("version-2", TX, _tx(schema_version=2), C.UNKNOWN_SCHEMA_VERSION, "schema_version", B),
    Case("version-as-string", TX, _tx(schema_version="1"), C.UNKNOWN_SCHEMA_VERSION, "schema_version", B),
    Case("version-1.0", TX, _tx(schema_version=1.0), C.UNKNOWN_SCHEMA_VERSION, "schema_version", MO),
    Case("version-missing", TX, _tx(schema_version=DROP), C.MISSING_FIELD, "schema_version", B),
    Case("version-missing-other-shape", TX, b'{"txn":{"id":"x"}}', C.MISSING_FIELD, "schema_version", B),
    Case("version-2-other-shape", TX, b'{"schema_version":2,"txn":{}}', C.UNKNOWN_SCHEMA_VERSION, "schema_version", B),
    # the value as a whole
    Case("not-utf8", TX, b"\xff\xfe", C.NOT_UTF8, None, NJ),
    Case("not-utf8-inside-string", TX, _tx(customer_id="596").replace(b"596", b"5\xff6"), C.NOT_UTF8, None, NJ),
    Case("empty", TX, b"", C.EMPTY, None, NJ),
    Case("truncated", TX, _tx()[:40], C.INVALID_JSON, None, NJ),
    Case("array-not-object", TX, b"[1, 2]", C.WRONG_TYPE, None, B),
    Case("too-large", TX, _tx(padding="x" * 70_000), C.TOO_LARGE, None, MO),
    # other event types
    Case("label-is-fraud-as-1", Label, _label(is_fraud=1), C.WRONG_TYPE, "is_fraud", B),
    Case("label-source-unknown", Label, _label(source="rumour"), C.INVALID_VALUE, "source", B),
    Case("verdict-score-1.5", Verdict, _verdict(score=1.5), C.OUT_OF_RANGE, "score", B),
    Case("verdict-feature-nan", Verdict, _verdict(features={"x": NAN}), C.NON_FINITE, "features.x", NJ),
    Case("verdict-feature-as-string", Verdict, _verdict(features={"x": "1"}), C.WRONG_TYPE, "features.x", B),
    Case("verdict-digest-uppercase", Verdict, _verdict(feature_digest="AB" * 8), C.INVALID_FORMAT, "feature_digest", B),
    Case("verdict-latency-negative", Verdict, _verdict(scoring_latency_s=-0.1), C.OUT_OF_RANGE, "scoring_latency_s", B),
    Case("verdict-decision-missing", Verdict, _verdict(decision=DROP), C.MISSING_FIELD, "decision", B),
    Case("model-event-kind-unknown", ModelEvent, _model_event(kind="exploded"), C.INVALID_VALUE, "kind", B),
    Case("model-event-metric-inf", ModelEvent, _model_event(metrics={"auc": INF}), C.NON_FINITE, "metrics.auc", NJ),
    Case("dead-letter-bad-base64", DeadLetter, _dead_letter(value_b64="not base64!"), C.INVALID_FORMAT, "value_b64", B),
    Case("dead-letter-offset-negative", DeadLetter, _dead_letter(source_offset=-1), C.OUT_OF_RANGE, "source_offset", B),
]  # fmt: skip

MODEL_ONLY_IDS: Final = {
    "time-one-year-ahead",  # relative to the injected "now": no JSON Schema keyword for that
    "time-past-tolerance",
    "fraud-scenario-1.0",  # JSON Schema counts 1.0 as an integer
    "version-1.0",  # ... and 1.0 == 1 for "const"
    "too-large",  # JSON Schema has no size of the whole document
}
NOT_JSON_IDS: Final = {
    "amount-nan",  # NaN/Infinity tokens are not RFC 8259 JSON
    "amount-infinity",
    "amount-minus-infinity",
    "verdict-feature-nan",
    "model-event-metric-inf",
    "not-utf8",  # JSON text is UTF-8
    "not-utf8-inside-string",
    "empty",
    "truncated",
}


def test_the_case_table_classification_is_explicit() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert {case.id for case in CASES if case.kind is Kind.MODEL_ONLY} == MODEL_ONLY_IDS
    assert {case.id for case in CASES if case.kind is Kind.NOT_JSON} == NOT_JSON_IDS


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_invalid_payload_is_rejected_with_a_precise_reason(case: Case) -> None:
    result = decode(case.raw, case.model, now=EXAMPLE_NOW)
    assert isinstance(result, Rejected), result
    assert result.reason_code is case.code, result
    assert result.field == case.field
    if case.field is not None:
        assert result.message.startswith(f"{case.field}: "), result.message


def test_the_first_problem_is_reported_and_the_others_counted() -> None:
    result = decode(_tx(customer_id=5, amount=-1, channel="bike"), Transaction, now=EXAMPLE_NOW)
    assert isinstance(result, Rejected)
    assert result.field == "customer_id"
    assert "(and 2 more: amount, channel)" in result.message


def test_impossible_calendar_date_is_rejected_by_the_model() -> None:
    # Not in the agreement table: JSON Schema only catches it with a date-time format checker installed.
    result = decode(_tx(event_time="2018-02-30T00:00:00Z"), Transaction, now=EXAMPLE_NOW)
    assert isinstance(result, Rejected)
    assert (result.reason_code, result.field) == (ReasonCode.INVALID_FORMAT, "event_time")


def test_time_within_tolerance_is_accepted() -> None:
    assert isinstance(decode(_tx(event_time=_ahead(hours=23)), Transaction, now=EXAMPLE_NOW), Decoded)


def test_the_future_tolerance_is_relative_to_the_injected_now() -> None:
    raw = _tx(event_time=_ahead(days=365))
    assert isinstance(decode(raw, Transaction, now=EXAMPLE_NOW + timedelta(days=365)), Decoded)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decode(_tx(), Transaction, now=EXAMPLE_NOW.replace(tzinfo=None))


# --- agreement with the shipped JSON Schema files -------------------------------------------------


def _schema_errors(model: type[Event], document: object) -> list[str]:
    """Messages of the shipped schema's draft 2020-12 validator (with its format checker) for ``document``."""
    draft = Draft202012Validator
    schema = json.loads(schema_path(model).read_text(encoding="utf-8"))
    validator = draft(schema, format_checker=draft.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(document)]


def _reject_constant(token: str) -> object:
    raise ValueError(f"{token} is not JSON")


def _strict_json(raw: bytes) -> object:
    """Parse like an RFC 8259 parser: UTF-8 only, no NaN/Infinity tokens."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def _is_json(raw: bytes) -> bool:
    try:
        _strict_json(raw)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return False
    return True


VALID: Final = [
    *(pytest.param(type(event), encode(event), id=type(event).__name__) for event in [
        example_transaction(), example_label(), example_verdict(), example_model_event(), example_dead_letter(),
    ]),
    pytest.param(Transaction, transaction_payloads(3)[2], id="generated-transaction"),
    pytest.param(Transaction, _tx(event_time="2018-04-01T02:00:31.25+02:00"), id="offset-and-fraction"),
    pytest.param(Transaction, _tx(event_time="2018-04-01t00:00:31.123456789z"), id="lowercase-nanoseconds"),
    pytest.param(Transaction, _tx(amount=12, currency=None, location=None, channel=None), id="int-amount-nulls"),
    pytest.param(Transaction, _tx(currency=DROP, merchant_category=DROP, fraud_scenario=DROP), id="optionals-absent"),
    pytest.param(Transaction, _tx(amount=0), id="amount-zero"),
    pytest.param(Transaction, _tx(amount=1_000_000), id="amount-at-limit"),
    pytest.param(Transaction, _tx(producer="v2", location={"lat": 0, "lon": 0, "alt": 3}), id="unknown-fields"),
    pytest.param(Label, _payload(example_label(), customer_id=DROP), id="label-without-customer"),
]  # fmt: skip


@pytest.mark.parametrize(("model", "raw"), VALID)
def test_valid_payload_is_accepted_by_model_and_schema(model: type[Event], raw: bytes) -> None:
    assert isinstance(decode(raw, model, now=EXAMPLE_NOW), Decoded)
    assert _schema_errors(model, _strict_json(raw)) == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_json_schema_agrees_where_it_can_express_the_rule(case: Case) -> None:
    assert isinstance(decode(case.raw, case.model, now=EXAMPLE_NOW), Rejected)
    if case.kind is Kind.NOT_JSON:
        assert not _is_json(case.raw)
        return
    errors = _schema_errors(case.model, _strict_json(case.raw))
    if case.kind is Kind.BOTH:
        assert errors, f"the JSON Schema accepts {case.id}"
    else:
        assert errors == [], f"{case.id} is classified model-only but the JSON Schema rejects it: {errors}"
