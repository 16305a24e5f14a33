"""The columnar decoder equals the per-event decoder, on valid and hostile values."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from fraudcore.columnar.decoding import FAST_FIELDS, _times_ms, decode_labels, decode_transactions
from fraudcore.features.definition import LabelFacts, TxFacts, epoch_ms
from schemas.codec import Decoded, decode, encode
from schemas.events import Label, Transaction
from schemas.examples import EXAMPLE_NOW, example_label, example_transaction, transaction_payloads
from schemas.fields import TIME_FLOOR
from schemas.rejection import Rejected
from tests.unit.schemas.test_schemas_invalid import CASES

pytestmark = pytest.mark.unit


def _variants(document: dict[str, object]) -> list[bytes | None]:
    """Hostile and unusual spellings of one valid document, some valid, some not."""
    raw = json.dumps(document).encode()
    out: list[bytes | None] = [
        raw,
        raw.replace(b", ", b",\n  "),
        raw + b" ",
        b" " + raw,
        raw + b"x",
        raw[:-1],
        b"[" + raw + b"]",
    ]
    for name, value in document.items():
        other: object
        for other in (None, True, 1, 1.0, -1, 1e400, "", " ", "x" * 129, "x" * 128, [], {}, "\u00e9", "2018-04-01"):
            changed = dict(document)
            changed[name] = other
            out.append(json.dumps(changed).encode())
        dropped = {key: item for key, item in document.items() if key != name}
        out.append(json.dumps(dropped).encode())
        out.append(raw[:-1] + f',"{name}":{json.dumps(value)}}}'.encode())  # duplicated key, same value
        out.append(raw[:-1] + f',"{name}":null}}'.encode())  # duplicated key, last one wins
    for stamp in (
        "2018-04-01T00:00:31.1234567Z",
        "2018-04-01T00:00:31.999999+02:00",
        "2018-04-01T00:00:31-00:30",
        "2018-04-01t00:00:31z",
        "2018-02-30T00:00:00Z",
        "2018-04-01T24:00:00Z",
        "2018-04-01T23:59:60Z",
        "1999-12-31T23:59:59.999Z",
        "2000-01-01T00:00:00+01:00",
        "2000-01-01T00:00:00-01:00",
        (EXAMPLE_NOW + timedelta(days=1)).isoformat(),
        (EXAMPLE_NOW + timedelta(days=1, microseconds=1)).isoformat(),
        "2018-04-01T00:00:31+24:00",
        "2018-04-01T00:00:31+23:59",
        "2018-04-01T00:00:31+00:99",
        "2018-04-01T00:00:31+05:60",
        "2018-04-01T00:00:31-19:99",
    ):
        for name in ("event_time", "labeled_at"):
            if name in document:
                out.append(json.dumps(document | {name: stamp}).encode())
    out += [raw.replace(b'"schema_version": 1', b'"schema_version": 1.0'), raw.replace(b"596", b"5\\u00396")]
    out += [raw[:-1] + b',"extra":{"a":[[[[[[1]]]]]]}}', raw[:-1] + b',"extra":"\xc3\xa9"}', None, b""]
    return out


def _per_event(raws: list[bytes | None], model: type[Transaction] | type[Label]) -> list[object]:
    out: list[object] = []
    for raw in raws:
        result = decode(raw, model, now=EXAMPLE_NOW)
        if not isinstance(result, Decoded):
            out.append(result)
        elif isinstance(result.event, Transaction):
            scenario = result.event.fraud_scenario
            out.append((TxFacts.of(result.event), -1 if scenario is None else scenario))
        else:
            assert isinstance(result.event, Label)
            facts = LabelFacts.of(result.event)  # the columns keep what the trainer joins on: not terminal and time
            out.append(LabelFacts(facts.transaction_id, facts.is_fraud, facts.labeled_at_ms))
    return out


def _transactions(raws: list[bytes | None]) -> list[object]:
    columns, rejected = decode_transactions(raws, now=EXAMPLE_NOW)
    out: list[object] = [None] * len(raws)
    for position, rejection in rejected:
        out[position] = rejection
    for row, position in enumerate(columns.index.tolist()):
        facts = TxFacts(
            columns.transaction_id[row].as_py(),
            columns.customer_id[row].as_py(),
            columns.terminal_id[row].as_py(),
            int(columns.event_time_ms[row]),
            int(columns.amount_cents[row]),
        )
        out[position] = (facts, int(columns.scenario[row]))
    return out


def _labels(raws: list[bytes | None]) -> list[object]:
    columns, rejected = decode_labels(raws, now=EXAMPLE_NOW)
    out: list[object] = [None] * len(raws)
    for position, rejection in rejected:
        out[position] = rejection
    for row, position in enumerate(columns.index.tolist()):
        label = columns.transaction_id[row].as_py()
        out[position] = LabelFacts(label, bool(columns.is_fraud[row]), int(columns.labeled_at_ms[row]))
    return out


def test_the_fast_structs_check_every_field_of_the_models() -> None:
    assert set(Transaction.model_fields) <= FAST_FIELDS[Transaction]
    assert set(Label.model_fields) <= FAST_FIELDS[Label]


def test_valid_transactions_decode_as_the_per_event_decoder_does() -> None:
    raws: list[bytes | None] = list(transaction_payloads(500))
    assert _transactions(raws) == _per_event(raws, Transaction)


def test_hostile_transactions_are_judged_as_the_per_event_decoder_does() -> None:
    document = json.loads(example_transaction().model_dump_json())
    raws: list[bytes | None] = [*_variants(document), *(case.raw for case in CASES if case.model is Transaction)]
    expected = _per_event(raws, Transaction)
    assert _transactions(raws) == expected
    assert sum(isinstance(item, tuple) for item in expected) > 10  # some valid ones among them


def test_hostile_labels_are_judged_as_the_per_event_decoder_does() -> None:
    document = json.loads(example_label().model_dump_json())
    raws: list[bytes | None] = [*_variants(document), *(case.raw for case in CASES if case.model is Label)]
    expected = _per_event(raws, Label)
    assert _labels(raws) == expected
    assert sum(isinstance(item, LabelFacts) for item in expected) > 10


def test_plain_timestamps_convert_as_fromisoformat_and_epoch_ms_do() -> None:
    rng = np.random.default_rng(3)
    moments = rng.integers(epoch_ms(TIME_FLOOR) * 1000 - 10**12, epoch_ms(EXAMPLE_NOW) * 1000 + 10**12, 3000)
    texts = [
        (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))).astimezone(zone).isoformat(timespec=spec)
        for us, zone, spec in zip(
            moments.tolist(),
            itertools.cycle([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))]),
            itertools.cycle(["seconds", "milliseconds", "microseconds"]),
            strict=False,
        )
    ]
    texts = [text.replace("+00:00", "Z") if i % 2 else text for i, text in enumerate(texts)]
    texts += [
        "2000-02-29T23:59:59.9Z",
        "2100-02-29T00:00:00Z",
        "2024-02-29T00:00:00+00:99",
        "2024-02-30T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:60Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00-23:59",
        "2024-01-01T00:00:00+23:60",
        "2000-01-01T00:59:59.999999+01:00",
        "2000-01-01T01:00:00+01:00",
        "1999-12-31T23:59:59.999999Z",
        "2024-01-01T00:00:00.000001Z",
        "2024-01-01T00:00:00.0001-00:00",
    ]
    limit = EXAMPLE_NOW + timedelta(days=1)
    times, ok = _times_ms(texts, limit)
    expected = [_by_fromisoformat(text, limit) for text in texts]
    assert [int(t) if taken else None for t, taken in zip(times.tolist(), ok.tolist(), strict=True)] == expected
    assert sum(value is None for value in expected) > 10


def _by_fromisoformat(text: str, limit: datetime) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if not text.endswith("Z") and int(text[-2:]) > 59:  # offset minutes: fromisoformat takes 99, the contract does not
        return None
    return epoch_ms(moment) if TIME_FLOOR <= moment <= limit else None


@pytest.mark.parametrize("kind", [Transaction, Label])
def test_values_that_would_span_or_share_lines_in_a_bulk_decode_are_judged_one_by_one(
    kind: type[Transaction] | type[Label],
) -> None:
    valid: list[bytes | None] = (
        list(transaction_payloads(300))
        if kind is Transaction
        else [encode(example_label().model_copy(update={"transaction_id": f"tx{i}"})) for i in range(300)]
    )
    one = valid[0]
    assert one is not None
    half = len(one) // 2
    splicing: list[bytes | None] = [
        one + b" " + one,  # two objects on one line
        b"   ",
        one[:half],  # a value that ends inside a string ...
        one[half:],  # ... and one that goes on with it
        one + b"\n" + one,
        b"{}",
        one.replace(b"{", b"{\n", 1),
    ]
    raws = [*valid[:150], *splicing, *valid[150:]]
    decoded = _transactions(raws) if kind is Transaction else _labels(raws)
    assert decoded == _per_event(raws, kind)
    assert sum(not isinstance(item, Rejected) for item in decoded) == 301  # the valid ones and the one with a line feed
