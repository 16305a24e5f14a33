"""Reading dataset files gives exactly what it gave before CSV rows became compact JSON: the same events
(hence the same message bytes) and the same refused rows with the same lines and reasons, on files that
mix valid rows with every kind of bad one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producer.files import EventWriter, RowError, read_events
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.codec import encode
from schemas.events import Event, Label, Transaction
from tests.unit.producer.reference_files import reference_events

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GOOD_ROWS = 2300

_TX = (
    '{{"schema_version":1,"transaction_id":"{id}","event_time":"{time}","customer_id":"c1",'
    '"terminal_id":"t1","amount":{amount}{more}}}'
)


def _tx(amount: str = "1.5", *, id: str = "x", time: str = "2018-04-01T00:00:00Z", more: str = "") -> bytes:
    return _TX.format(id=id, time=time, amount=amount, more=more).encode()


BAD_JSONL = [
    b"{not json",
    b"\xff\xfe",
    b"[]",
    b'"text"',
    b"{}",
    _tx().replace(b'"schema_version":1', b'"schema_version":2'),
    _tx().replace(b'"schema_version":1,', b""),
    _tx('"12.5"'),
    _tx("-1"),
    _tx("1e999"),
    _tx(time="2040-01-01T00:00:00Z"),
    _tx(time="1970-01-01T00:00:00Z"),
    _tx(time="yesterday"),
    _tx(more=',"fraud_scenario":99999999999999999999999'),
    _tx(more=',"location":{"lat":91,"lon":0}'),
    _tx(id="x" * 129),
    _tx(id="é" * 40_000),  # over the 64 KiB limit
    _tx(id=""),
]
ODD_BUT_VALID_JSONL = [
    b"   ",  # blank: skipped
    _tx(more=',"colour":"red","location":{"lat":1,"lon":2,"alt":3}'),  # unknown fields: dropped
    _tx(id="ünïcode-✓"),
    _tx().replace(b"{", b"{ ", 1) + b"\r",  # spacing, CRLF
    _tx("1.5").replace(b"1.5", b"2.5", 1).replace(b'"amount":2.5', b'"amount":1,"amount":3'),  # last key wins
]

CSV_HEADER = "transaction_id,event_time,customer_id,terminal_id,amount,location.lat,location.lon,fraud_scenario"
BAD_CSV = [
    "a,2018-04-01T00:00:00Z,c1,t1,12.5.1,,,",
    "a,2018-04-01T00:00:00Z,c1,t1,nan,,,",
    "a,2018-04-01T00:00:00Z,c1,t1,inf,,,",
    "a,2018-04-01T00:00:00Z,c1,t1,1e999,,,",
    "a,2018-04-01T00:00:00Z,c1,t1,-4,,,",
    "a,2018-04-01T00:00:00Z,,t1,4,,,",
    "a,1970-01-01T00:00:00Z,c1,t1,4,,,",
    "a,2040-01-01T00:00:00Z,c1,t1,4,,,",
    "a,yesterday,c1,t1,4,,,",
    "a,2018-04-01T00:00:00Z,c1,t1,4,,",
    "a,2018-04-01T00:00:00Z,c1,t1,4,,,1.5",
    "a,2018-04-01T00:00:00Z,c1,t1,4,,,99999999999999999999999",
    "a,2018-04-01T00:00:00Z,c1,t1,4,95,,",
    "a,2018-04-01T00:00:00Z,c1,t1,4,x,1,",
    f"{'é' * 12_000},2018-04-01T00:00:00Z,c1,t1,4,,,",  # too long an id, under the size limit
    f"{'é' * 30_000},2018-04-01T00:00:00Z,c1,t1,4,,,",  # compact JSON under 64 KiB, json.dumps over it
    " ,2018-04-01T00:00:00Z,c1,t1,4,,,",
]
ODD_BUT_VALID_CSV = [
    ",,,,,,,",  # blank: skipped
    " , ,,,,,,",  # blank: skipped
    "a,2018-04-01T00:00:00Z,c1,t1, 12.50 ,1,-2,3",
    '"multi\nline",2018-04-01T00:00:00Z,c1,t1,.5,,,',  # a quoted newline: line numbers move on
    "ünïcode-✓,2018-04-01T00:00:00Z,c1,t1,4.,,,0",
]


def _simulated(path: Path, model: type[Event]) -> None:
    writer = EventWriter(path, model)
    params = SimulationParams(seed=5, n_customers=200, n_terminals=400, days=20)
    for event in SimulatedStream(params, LabelPolicy(fraction=0.5)).events(GOOD_ROWS):
        if isinstance(event, model):
            writer.write(event)
    writer.close()


def _interleave(good: list[bytes], bad: list[bytes]) -> list[bytes]:
    """``bad`` spread over ``good``: at the start, the end and in between."""
    lines = list(good)
    spots = [0, 998, 999, 1000, 1001, 1999, 2000, *range(5, len(lines), max(1, len(lines) // len(bad)))]
    for spot, line in zip(spots, bad, strict=False):
        lines.insert(min(spot, len(lines)), line)
    return lines + bad[len(spots) :]


def _same_as_before(path: Path, model: type[Event]) -> list[Event | RowError]:
    chunked = list(read_events(path, model, NOW))
    assert chunked == list(reference_events(path, model, NOW))
    events = [item for item in chunked if not isinstance(item, RowError)]
    assert [encode(event) for event in events] == [
        encode(event) for event in reference_events(path, model, NOW) if not isinstance(event, RowError)
    ]
    return chunked


def test_jsonl_transactions_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    _simulated(path, Transaction)
    good = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join(_interleave(good, BAD_JSONL + ODD_BUT_VALID_JSONL)) + b"\n")

    results = _same_as_before(path, Transaction)
    errors = [item for item in results if isinstance(item, RowError)]
    assert len(errors) == len(BAD_JSONL)
    assert len(results) - len(errors) == len(good) + len(ODD_BUT_VALID_JSONL) - 1
    reasons = {str(error).split(": ")[1] for error in errors}
    assert {"invalid_json", "too_large", "wrong_type", "out_of_range", "implausible_time"} <= reasons
    assert {"not_utf8", "unknown_schema_version", "missing_field", "non_finite", "invalid_format"} <= reasons


def test_csv_transactions_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    _simulated(path, Transaction)
    header, *good = path.read_text(encoding="utf-8").splitlines()
    columns = header.split(",")
    reordered = [",".join(row.split(",")[columns.index(name)] for name in CSV_HEADER.split(",")) for row in good]
    lines = _interleave([line.encode() for line in reordered], [row.encode() for row in BAD_CSV + ODD_BUT_VALID_CSV])
    path.write_bytes(b"\n".join([CSV_HEADER.encode(), *lines]) + b"\n")

    results = _same_as_before(path, Transaction)
    errors = [item for item in results if isinstance(item, RowError)]
    assert len(errors) == len(BAD_CSV)
    assert len(results) - len(errors) == len(good) + len(ODD_BUT_VALID_CSV) - 2
    messages = " ".join(str(error) for error in errors)
    for problem in ("is not a finite number", "is not an integer", "cells for", "too_large", "out_of_range"):
        assert problem in messages


def test_a_csv_row_near_the_size_limit_is_refused_as_too_large_as_before(tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    path.write_text(f"{CSV_HEADER}\n{BAD_CSV[-2]}\n", encoding="utf-8")
    (error,) = _same_as_before(path, Transaction)
    assert isinstance(error, RowError)
    assert "too_large" in str(error)
    assert len(json.dumps({"transaction_id": "é" * 30_000})) > 65_536 > len(("é" * 30_000).encode())


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_labels_read_as_before(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"labels{suffix}"
    _simulated(path, Label)
    lines = path.read_bytes().splitlines()
    bad = (
        [b'{"schema_version":1,"transaction_id":"a","is_fraud":1,"labeled_at":"2018-04-01T00:00:00Z","source":"x"}']
        if suffix == ".jsonl"
        else [
            b"1,a,yes,2018-04-01T00:00:00Z,simulated,c1",
            b"1,a,TRUE,2018-04-01T00:00:00Z,simulated,c1",
            b"1,a,true,2018-04-01T00:00:00Z,simulated",
        ]
    )
    path.write_bytes(b"\n".join([*lines[:1], *_interleave(lines[1:], bad)]) + b"\n")
    results = _same_as_before(path, Label)
    assert any(isinstance(item, RowError) for item in results)


def test_an_undecodable_csv_byte_ends_the_file_with_an_error_as_before(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    rows = [f"a{i},2018-04-01T00:00:00Z,c1,t1,{i},,," for i in range(1500)]
    path.write_bytes(("\n".join([CSV_HEADER, *rows]) + "\n").encode() + b"b,\xff\xfe,c1,t1,1,,,\nc,2018,c1,t1,1,,,\n")
    results = _same_as_before(path, Transaction)
    assert isinstance(results[-1], RowError)
    assert "unreadable row" in str(results[-1])
    assert 1000 < len(results) <= 1501  # the text is decoded in blocks: the block with the bad byte is lost
