"""Reference examples of every event, and a generator of valid transaction payloads.

Used by the tests, the benchmark and as living documentation of the contracts. All timestamps lie
on 2018-04-01 (the start of the simulated data set); judge them against :data:`EXAMPLE_NOW`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from schemas.dead_letter import DeadLetter
from schemas.enums import Channel, Decision, LabelSource, ModelEventKind, ReasonCode, RiskLevel
from schemas.events import Event, Label, Location, ModelEvent, Transaction, Verdict, digest_features

__all__ = [
    "EXAMPLE_NOW",
    "example_dead_letter",
    "example_events",
    "example_label",
    "example_model_event",
    "example_transaction",
    "example_verdict",
    "transaction_payloads",
]

EXAMPLE_NOW: Final = datetime(2018, 4, 1, 12, 0, tzinfo=UTC)
"""The "now" the examples are plausible against."""

_T0: Final = datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)


def example_transaction() -> Transaction:
    """A transaction with every optional field set."""
    return Transaction(
        transaction_id="tx-000001",
        event_time=_T0,
        customer_id="596",
        terminal_id="3156",
        amount=57.16,
        currency="EUR",
        merchant_category="5411",
        channel=Channel.POS,
        location=Location(lat=50.8503, lon=4.3517),
        fraud_scenario=0,
    )


def example_label() -> Label:
    """A chargeback label."""
    return Label(
        transaction_id="tx-000001",
        is_fraud=True,
        labeled_at=_T0 + timedelta(hours=6),
        source=LabelSource.CHARGEBACK,
        customer_id="596",
        terminal_id="3156",
        transaction_time=_T0,
    )


def example_verdict() -> Verdict:
    """A verdict with features and reasons."""
    features = {"customer_avg_amount_1d": 48.2, "terminal_risk_7d": 0.0, "amount": 57.16}
    return Verdict(
        transaction_id="tx-000001",
        customer_id="596",
        score=0.0731,
        decision=Decision.APPROVE,
        risk_level=RiskLevel.LOW,
        model_name="fraud-scorer",
        model_version="7",
        features=features,
        feature_digest=digest_features(features),
        scoring_latency_s=0.0042,
        reasons=["amount close to customer's 1-day mean"],
        scored_at=_T0 + timedelta(milliseconds=4),
    )


def example_model_event() -> ModelEvent:
    """A promotion event."""
    return ModelEvent(
        kind=ModelEventKind.PROMOTED,
        model_name="fraud-scorer",
        model_version="7",
        previous_version="6",
        metrics={"average_precision": 0.69, "auc_roc": 0.87},
        message="champion replaced: +0.03 average precision on the last 7 days",
        at=_T0 + timedelta(hours=1),
    )


def example_dead_letter() -> DeadLetter:
    """A dead letter for a non-UTF-8 value, with a key and headers (one with a null value)."""
    return DeadLetter.from_raw(
        b"\xff\xfe{not json",
        key=b"596",
        headers=[("trace-id", b"\x00\x01abc"), ("empty", None)],
        source_topic="transactions",
        source_partition=2,
        source_offset=41_017,
        reason_code=ReasonCode.NOT_UTF8,
        reason="the value is not UTF-8: invalid start byte at byte 0",
        failed_at=_T0 + timedelta(seconds=1),
    )


def example_events() -> list[Event]:
    """One example of each event type."""
    return [example_transaction(), example_label(), example_verdict(), example_model_event(), example_dead_letter()]


def transaction_payloads(count: int) -> list[bytes]:
    """``count`` distinct, valid encoded transactions (deterministic; varied ids, amounts, times)."""
    channels = list(Channel)
    payloads: list[bytes] = []
    for index in range(count):
        clock = f"{index // 3600 % 10:02d}:{index // 60 % 60:02d}:{index % 60:02d}.{index % 1000:03d}"
        payload = (
            '{"schema_version":1,'
            f'"transaction_id":"tx-{index:09d}",'
            f'"event_time":"2018-04-01T{clock}Z",'
            f'"customer_id":"{index * 7919 % 5000}",'
            f'"terminal_id":"{index * 104_729 % 10_000}",'
            f'"amount":{index * 37 % 25_000 / 100},'
            '"currency":"EUR","merchant_category":"5411",'
            f'"channel":"{channels[index % len(channels)].value}",'
            f'"location":{{"lat":{index % 180 - 89.5},"lon":{index % 360 - 179.5}}},'
            f'"fraud_scenario":{index % 4}}}'
        )
        payloads.append(payload.encode("utf-8"))
    return payloads
