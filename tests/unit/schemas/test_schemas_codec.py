"""Round trips, deterministic encoding, unknown fields, dead letters and the batch helper."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas import (
    Channel,
    DeadLetter,
    Decoded,
    DecodePolicy,
    Event,
    Label,
    LabelSource,
    ReasonCode,
    Rejected,
    Transaction,
    Verdict,
    decode,
    decode_batch,
    decode_dead_letter,
    decode_transaction,
    digest_features,
    encode,
)
from schemas.bench import decode_throughput
from schemas.examples import EXAMPLE_NOW, example_events, example_transaction, example_verdict

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("event", example_events(), ids=lambda event: type(event).__name__)
def test_every_event_round_trips(event: Event) -> None:
    result = decode(encode(event), type(event), now=EXAMPLE_NOW)
    assert isinstance(result, Decoded), result
    assert result.event == event
    assert result.unknown_fields == ()
    assert encode(result.event) == encode(event)


def test_encoding_is_compact_utf8_json_in_field_order() -> None:
    label = Label(
        transaction_id="tx-1",
        is_fraud=False,
        labeled_at=datetime(2018, 4, 1, 6, 0, 31, 500_000, tzinfo=UTC),
        source=LabelSource.INVESTIGATION,
        customer_id="Zoë",
    )
    expected = (
        '{"schema_version":1,"transaction_id":"tx-1","is_fraud":false,"labeled_at":"2018-04-01T06:00:31.500000Z",'
        '"source":"investigation","customer_id":"Zoë","terminal_id":null,"transaction_time":null}'
    )
    assert encode(label) == expected.encode()


def test_equal_events_encode_to_equal_bytes() -> None:
    assert encode(example_transaction()) == encode(example_transaction())
    verdict = example_verdict().model_dump()
    forward = Verdict.model_validate({**verdict, "features": {"a": 1.0, "b": 2.0}})
    backward = Verdict.model_validate({**verdict, "features": {"b": 2.0, "a": 1.0}})
    assert encode(forward) == encode(backward)
    assert b'"features":{"a":1.0,"b":2.0}' in encode(backward)
    plus_two = timezone(timedelta(hours=2))
    shifted = Transaction.model_validate(
        {**example_transaction().model_dump(), "event_time": datetime(2018, 4, 1, 2, 0, 31, tzinfo=plus_two)}
    )
    assert encode(shifted) == encode(example_transaction())  # same instant, other offset


def test_offsets_are_normalised_to_utc_when_decoding() -> None:
    document = json.loads(encode(example_transaction()))
    document["event_time"] = "2018-04-01T02:00:31+02:00"
    result = decode_transaction(json.dumps(document).encode(), now=EXAMPLE_NOW)
    assert isinstance(result, Decoded)
    assert b'"event_time":"2018-04-01T00:00:31Z"' in encode(result.event)


def test_unknown_fields_are_tolerated_counted_and_dropped() -> None:
    document = json.loads(encode(example_transaction()))
    document["producer_build"] = "2024.1"
    document["risk_hint"] = {"x": 1}
    document["location"]["altitude_m"] = 13
    result = decode_transaction(json.dumps(document).encode(), now=EXAMPLE_NOW)
    assert isinstance(result, Decoded), result
    assert result.unknown_fields == ("producer_build", "risk_hint", "location.altitude_m")
    assert result.unknown_count == 3
    assert result.event == example_transaction()
    assert encode(result.event) == encode(example_transaction())


def test_python_constructors_are_strict_too() -> None:
    fields = example_transaction().model_dump()
    with pytest.raises(ValidationError):
        Transaction.model_validate({**fields, "amount": "12.5"})
    with pytest.raises(ValidationError):
        Transaction.model_validate({**fields, "event_time": datetime(2018, 4, 1)})  # naive
    with pytest.raises(ValidationError):
        Transaction.model_validate({**fields, "amount": float("nan")})
    assert Transaction.model_validate({**fields, "channel": "ecom"}).channel is Channel.ECOM


def test_encoding_refuses_fields_outside_the_contract() -> None:
    typo = Transaction.model_validate({**example_transaction().model_dump(), "ammount": 3.0})
    with pytest.raises(ValueError, match="ammount"):
        encode(typo)


def test_dead_letter_keeps_the_exact_original_bytes() -> None:
    value = b"\xff\xfe\x00{not json at all\x80"
    key = b"\xc3\x28"  # invalid UTF-8 too
    headers = [("trace", b"\x00\xff"), ("none", None), ("trace", b"")]
    letter = DeadLetter.from_raw(
        value,
        key=key,
        headers=headers,
        source_topic="transactions",
        source_partition=1,
        source_offset=7,
        reason_code=ReasonCode.NOT_UTF8,
        reason="the value is not UTF-8",
        failed_at=EXAMPLE_NOW,
    )
    wire = encode(letter)
    assert wire.isascii()
    result = decode_dead_letter(wire, now=EXAMPLE_NOW)
    assert isinstance(result, Decoded), result
    assert result.event.original_value() == value
    assert result.event.original_key() == key
    assert result.event.original_headers() == headers


def test_dead_letter_of_a_tombstone_keeps_null() -> None:
    letter = DeadLetter.from_raw(
        None,
        key=None,
        source_topic="transactions",
        source_partition=0,
        source_offset=0,
        reason_code=ReasonCode.EMPTY,
        reason="the value is null (tombstone)",
        failed_at=EXAMPLE_NOW,
    )
    result = decode_dead_letter(encode(letter), now=EXAMPLE_NOW)
    assert isinstance(result, Decoded)
    assert (result.event.original_value(), result.event.original_key()) == (None, None)
    assert b'"value_b64":null,"key_b64":null,"headers":[]' in encode(letter)


def test_a_rejected_transaction_becomes_a_dead_letter() -> None:
    raw = b'{"schema_version":1,"amount":"12.5"}'
    rejected = decode_transaction(raw, now=EXAMPLE_NOW)
    assert isinstance(rejected, Rejected)
    letter = DeadLetter.from_raw(
        raw,
        key=b"596",
        source_topic="transactions",
        source_partition=0,
        source_offset=3,
        reason_code=rejected.reason_code,
        reason=rejected.message * 1000,  # over-long reasons are truncated, not refused
        failed_at=EXAMPLE_NOW,
    )
    assert letter.original_value() == raw
    assert letter.reason_code is ReasonCode.MISSING_FIELD
    assert len(letter.reason) == 4096


def test_size_limit_is_per_event_type_and_overridable() -> None:
    raw = encode(example_transaction())
    tight = decode(raw, Transaction, now=EXAMPLE_NOW, policy=DecodePolicy(max_bytes=len(raw) - 1))
    assert isinstance(tight, Rejected)
    assert tight.reason_code is ReasonCode.TOO_LARGE
    assert isinstance(decode(raw, Transaction, now=EXAMPLE_NOW, policy=DecodePolicy(max_bytes=len(raw))), Decoded)
    letter = DeadLetter.from_raw(
        b"x" * 100_000,
        key=None,
        source_topic="transactions",
        source_partition=0,
        source_offset=9,
        reason_code=ReasonCode.TOO_LARGE,
        reason="the value is 100000 bytes, over the 65536-byte limit",
        failed_at=EXAMPLE_NOW,
    )
    assert len(encode(letter)) > 64 * 1024
    assert isinstance(decode_dead_letter(encode(letter), now=EXAMPLE_NOW), Decoded)
    with pytest.raises(ValueError, match="max_bytes"):
        DecodePolicy(max_bytes=0)


def test_batch_keeps_input_order_and_indexes_rejections() -> None:
    good = encode(example_transaction())
    with_extra = good[:-1] + b',"new":1}'
    batch = decode_batch([good, b"", with_extra, b"[]", None], Transaction, now=EXAMPLE_NOW)
    assert batch.events == [example_transaction(), example_transaction()]
    assert [(index, rejected.reason_code) for index, rejected in batch.rejected] == [
        (1, ReasonCode.EMPTY),
        (3, ReasonCode.WRONG_TYPE),
        (4, ReasonCode.EMPTY),
    ]
    assert batch.unknown_field_counts == {"new": 1}


def test_feature_digest_ignores_key_order_but_not_values() -> None:
    assert digest_features({"a": 1.0, "b": 2.0}) == digest_features({"b": 2.0, "a": 1.0})
    assert digest_features({"a": 1.0, "b": 2.0}) != digest_features({"a": 1.0, "b": 2.5})
    assert len(digest_features({})) == 64


def test_the_benchmark_helper_runs() -> None:
    assert decode_throughput(count=20, rounds=1) > 0
