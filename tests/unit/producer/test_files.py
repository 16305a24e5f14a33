"""Dataset files: CSV/JSONL written and read back; every bad row refused with its line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.files import DatasetFiles, FileFormat, RowError, csv_columns, format_of, read_events
from schemas.events import Event, Label, Transaction
from schemas.examples import EXAMPLE_NOW, example_label, example_transaction

NOW = EXAMPLE_NOW


def _read(path: Path, model: type[Event] = Transaction) -> list[Event | RowError]:
    return list(read_events(path, model, NOW))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
async def test_a_written_dataset_reads_back_equal(tmp_path: Path, suffix: str) -> None:
    files = DatasetFiles(tmp_path / f"data{suffix}")
    transaction, label = example_transaction(), example_label()
    await files.send(transaction)
    await files.send(label)
    files.close()
    assert _read(tmp_path / f"data{suffix}") == [transaction]
    assert _read(tmp_path / f"data.labels{suffix}", Label) == [label]


def test_csv_columns_flatten_nested_fields() -> None:
    assert csv_columns(Transaction)[-3:] == ["location.lat", "location.lon", "fraud_scenario"]
    assert "is_fraud" in csv_columns(Label)


def _csv(tmp_path: Path, *rows: str, header: str = "transaction_id,event_time,customer_id,terminal_id,amount") -> Path:
    path = tmp_path / "in.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_csv_without_schema_version_reads_as_the_current_one(tmp_path: Path) -> None:
    (event,) = _read(_csv(tmp_path, "tx1,2018-04-01T00:00:00Z,c1,t1,12.5"))
    assert isinstance(event, Transaction)
    assert event.amount == 12.5


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("tx1,2018-04-01T00:00:00Z,c1,t1,12.5.1", "amount: '12.5.1' is not a finite number"),
        ("tx1,2018-04-01T00:00:00Z,c1,t1,nan", "amount: 'nan' is not a finite number"),
        ("tx1,2018-04-01T00:00:00Z,c1,t1,inf", "is not a finite number"),
        ("tx1,2018-04-01T00:00:00Z,c1,t1,-4", "out_of_range: amount"),
        ("tx1,2018-04-01T00:00:00Z,c1,t1,1e9", "out_of_range: amount"),
        ("tx1,2018-04-01T00:00:00Z,,t1,4", "missing_field: customer_id"),
        ("tx1,1970-01-01T00:00:00Z,c1,t1,4", "implausible_time: event_time"),
        ("tx1,2040-01-01T00:00:00Z,c1,t1,4", "implausible_time: event_time"),
        ("tx1,yesterday,c1,t1,4", "invalid_format: event_time"),
        ("tx1,2018-04-01T00:00:00Z,c1,t1", "4 cells for 5 columns"),
    ],
)
def test_bad_csv_rows_are_refused_with_their_line(tmp_path: Path, row: str, problem: str) -> None:
    good = "tx0,2018-04-01T00:00:00Z,c1,t1,1.0"
    results = _read(_csv(tmp_path, good, row, good))
    assert [type(result) for result in results] == [Transaction, RowError, Transaction]
    error = results[1]
    assert isinstance(error, RowError)
    assert error.line == 3
    assert problem in str(error)


def test_unknown_csv_columns_are_refused_up_front(tmp_path: Path) -> None:
    (error,) = _read(_csv(tmp_path, "x", header="transaction_id,colour"))
    assert isinstance(error, RowError)
    assert "unknown columns colour" in str(error)


def test_csv_booleans_must_be_true_or_false(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "tx1,yes,2018-04-01T00:00:00Z,simulated",
        "tx1,TRUE,2018-04-01T00:00:00Z,simulated",
        header="transaction_id,is_fraud,labeled_at,source",
    )
    error, label = _read(path, Label)
    assert isinstance(error, RowError)
    assert "is_fraud: 'yes' is not true or false" in str(error)
    assert isinstance(label, Label)
    assert label.is_fraud


def test_jsonl_lines_are_decoded_strictly_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    good = (
        b'{"schema_version":1,"transaction_id":"a","event_time":"2018-04-01T00:00:00Z",'
        b'"customer_id":"c","terminal_id":"t","amount":1.5}'
    )
    path.write_bytes(b"\n".join([good, b"", good.replace(b"1.5", b'"1.5"'), b"{not json", b"\xff\xfe", good]) + b"\n")
    results = _read(path)
    assert [type(r).__name__ for r in results] == ["Transaction", "RowError", "RowError", "RowError", "Transaction"]
    assert [r.line for r in results if isinstance(r, RowError)] == [3, 4, 5]
    assert "wrong_type: amount" in str(results[1])


def test_the_format_comes_from_the_suffix_or_the_flag(tmp_path: Path) -> None:
    assert format_of(tmp_path / "a.CSV") is FileFormat.CSV
    assert format_of(tmp_path / "a.ndjson") is FileFormat.JSONL
    assert format_of(tmp_path / "a.txt", FileFormat.CSV) is FileFormat.CSV
    with pytest.raises(ValueError, match="pass --format"):
        format_of(tmp_path / "a.txt")
