"""The file reading as it was before CSV rows became compact JSON, kept to check against: every CSV row
typed into a dict by one function, written with :func:`json.dumps` and decoded."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from producer.files import _BOOLEANS, _INTEGER, _NUMBER, FileFormat, RowError, _field_types, format_of
from schemas.codec import Decoded, decode
from schemas.events import Event
from schemas.fields import SCHEMA_VERSION


def reference_events(path: Path, model: type[Event], now: datetime) -> Iterator[Event | RowError]:
    """What ``read_events`` gave before."""
    if format_of(path) is FileFormat.JSONL:
        with path.open("rb") as binary:
            for line, raw in enumerate(binary, start=1):
                value = raw.rstrip(b"\r\n")
                if value.strip():
                    yield _decoded(value, model, now, line)
    else:
        with path.open(encoding="utf-8", newline="") as text:
            yield from _read_csv(text, model, now)


def _decoded(raw: bytes, model: type[Event], now: datetime, line: int) -> Event | RowError:
    result = decode(raw, model, now=now)
    if isinstance(result, Decoded):
        event: Event = result.event
        return event
    return RowError(line, str(result))


def _read_csv(stream: Any, model: type[Event], now: datetime) -> Iterator[Event | RowError]:
    types = _field_types(model)
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    except (csv.Error, UnicodeDecodeError) as exc:
        yield RowError(1, f"unreadable header: {exc}")
        return
    unknown = [name for name in header if name not in types]
    if unknown:
        yield RowError(1, f"unknown columns {', '.join(unknown)} (expected some of {', '.join(types)})")
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            yield RowError(reader.line_num, f"unreadable row: {exc}")
            return
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield RowError(reader.line_num, f"{len(row)} cells for {len(header)} columns")
            continue
        try:
            document = _typed_document(header, row, types)
        except ValueError as exc:
            yield RowError(reader.line_num, str(exc))
            continue
        yield _decoded(json.dumps(document).encode(), model, now, reader.line_num)


def _typed_document(header: Sequence[str], row: Sequence[str], types: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for column, cell in zip(header, row, strict=True):
        if cell == "":
            continue
        value = _typed(column, cell, types[column])
        top, _, nested = column.partition(".")
        if nested:
            document.setdefault(top, {})[nested] = value
        else:
            document[top] = value
    return document


def _typed(column: str, cell: str, kind: str) -> Any:
    text = cell.strip()
    if kind == "number":
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{column}: {cell!r} is not a finite number")
        return float(text)
    if kind == "integer":
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"{column}: {cell!r} is not an integer")
        return int(text)
    if kind == "boolean":
        try:
            return _BOOLEANS[text.lower()]
        except KeyError:
            raise ValueError(f"{column}: {cell!r} is not true or false") from None
    return cell
