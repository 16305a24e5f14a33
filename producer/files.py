"""Datasets on disk: read transactions or labels from CSV/JSONL, write them back.

Reading validates every row with the same strict decoder the consumers use; a bad row becomes a
:class:`RowError` naming its line and the problem, and is never sent. JSONL lines are decoded as
they are (so ``"12.5"`` stays a string and is refused). CSV cells are text, so they are first
typed after the event's JSON Schema — numbers must look like numbers (``nan``/``inf`` refused),
booleans are ``true``/``false``, an empty cell means "absent", nested fields are flattened as
``location.lat`` — and the row is then decoded like a JSONL line. A CSV without a
``schema_version`` column is read as the current version.

Writing produces the same two formats: JSONL lines are exactly the Kafka message values.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final

from pydantic_core import to_json

from schemas.codec import Decoded, decode, encode
from schemas.events import Event, Label, Transaction
from schemas.fields import SCHEMA_VERSION

__all__ = [
    "DatasetFiles",
    "EventWriter",
    "FileFormat",
    "RowError",
    "csv_columns",
    "format_of",
    "read_events",
]

_NUMBER: Final = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER: Final = re.compile(r"-?[0-9]+")
_BOOLEANS: Final = {"true": True, "false": False}


class FileFormat(StrEnum):
    """Dataset file formats."""

    CSV = "csv"
    JSONL = "jsonl"


_SUFFIXES: Final = {".csv": FileFormat.CSV, ".jsonl": FileFormat.JSONL, ".ndjson": FileFormat.JSONL}


def format_of(path: Path, explicit: FileFormat | None = None) -> FileFormat:
    """The format named explicitly, else the one the file suffix says; ``ValueError`` if neither."""
    if explicit is not None:
        return explicit
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        known = ", ".join(_SUFFIXES)
        raise ValueError(f"cannot tell the format of {path.name} (suffixes {known}); pass --format") from None


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not sent: where it is and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def read_events(
    path: Path, model: type[Event], now: datetime, file_format: FileFormat | None = None
) -> Iterator[Event | RowError]:
    """Every row of ``path`` as a valid event of ``model`` or a :class:`RowError`, in file order."""
    kind = format_of(path, file_format)
    if kind is FileFormat.JSONL:
        with path.open("rb") as binary:
            yield from _read_jsonl(binary, model, now)
    else:
        with path.open(encoding="utf-8", newline="") as text:
            yield from _read_csv(text, model, now)


def _decoded(raw: bytes, model: type[Event], now: datetime, line: int) -> Event | RowError:
    result = decode(raw, model, now=now)
    if isinstance(result, Decoded):
        event: Event = result.event
        return event
    return RowError(line, str(result))


def _read_jsonl(stream: IO[bytes], model: type[Event], now: datetime) -> Iterator[Event | RowError]:
    for line, raw in enumerate(stream, start=1):
        value = raw.rstrip(b"\r\n")
        if value.strip():
            yield _decoded(value, model, now, line)


def _read_csv(stream: IO[str], model: type[Event], now: datetime) -> Iterator[Event | RowError]:
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
    document_of = _DocumentBuilder(header, types, model.max_bytes)
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
            document = document_of(row)
        except ValueError as exc:
            yield RowError(reader.line_num, str(exc))
            continue
        yield _decoded(document, model, now, reader.line_num)


class _DocumentBuilder:
    """A CSV row as the JSON document it is decoded as: cells typed after the column's JSON type, empty
    cells left out, ``parent.child`` columns nested, ``schema_version`` the current one unless given.

    The document is compact JSON (pydantic-core's encoder). :func:`json.dumps`, which writes up to three
    times as many bytes, is kept for documents that could come near the decoder's size limit, so such a
    row is refused as too large exactly as before.
    """

    def __init__(self, header: Sequence[str], types: dict[str, str], max_bytes: int) -> None:
        self._columns = [(column, *_split(column), _CONVERTERS.get(types[column])) for column in header]
        self._compact_limit = max_bytes // 3

    def __call__(self, row: Sequence[str]) -> bytes:
        document: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for (column, top, nested, convert), cell in zip(self._columns, row, strict=True):
            if cell == "":
                continue
            value = cell if convert is None else convert(column, cell)
            if nested:
                document.setdefault(top, {})[nested] = value
            else:
                document[top] = value
        compact = to_json(document, inf_nan_mode="constants")
        return compact if len(compact) <= self._compact_limit else json.dumps(document).encode()


def _split(column: str) -> tuple[str, str]:
    top, _, nested = column.partition(".")
    return top, nested


def _number(column: str, cell: str) -> float:
    text = cell.strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{column}: {cell!r} is not a finite number")
    return float(text)


def _integer(column: str, cell: str) -> int:
    text = cell.strip()
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{column}: {cell!r} is not an integer")
    return int(text)


def _boolean(column: str, cell: str) -> bool:
    try:
        return _BOOLEANS[cell.strip().lower()]
    except KeyError:
        raise ValueError(f"{column}: {cell!r} is not true or false") from None


_CONVERTERS: Final[dict[str, Callable[[str, str], Any]]] = {"number": _number, "integer": _integer, "boolean": _boolean}
"""How a cell of each JSON type becomes a value (other types: the cell's text)."""


def _field_types(model: type[Event]) -> dict[str, str]:
    """JSON type of each column after the model's JSON Schema; nested objects are flattened
    into ``parent.child`` columns."""
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})

    def resolve(spec: dict[str, Any]) -> dict[str, Any]:
        options = [option for option in spec.get("anyOf", [spec]) if option.get("type") != "null"]
        option = options[0] if options else spec
        return definitions[option["$ref"].rsplit("/", 1)[1]] if "$ref" in option else option

    types: dict[str, str] = {}
    for name, spec in schema["properties"].items():
        resolved = resolve(spec)
        if resolved.get("type") == "object":
            types.update({f"{name}.{inner}": resolve(part)["type"] for inner, part in resolved["properties"].items()})
        else:
            types[name] = resolved.get("type", "integer" if isinstance(resolved.get("const"), int) else "string")
    return types


def csv_columns(model: type[Event]) -> list[str]:
    """The CSV header of ``model``: its fields, nested ones flattened (``location.lat``)."""
    return list(_field_types(model))


class EventWriter:
    """Writes events of one type to a CSV or JSONL file."""

    def __init__(self, path: Path, model: type[Event], file_format: FileFormat | None = None) -> None:
        self.path = path
        self.format = format_of(path, file_format)
        self.count = 0
        self._columns = csv_columns(model)
        self._binary = path.open("wb")
        self._csv: Any = None
        if self.format is FileFormat.CSV:
            self._text = io.TextIOWrapper(self._binary, encoding="utf-8", newline="")
            self._csv = csv.writer(self._text, lineterminator="\n")
            self._csv.writerow(self._columns)

    def write(self, event: Event) -> None:
        """Append one event."""
        if self._csv is None:
            self._binary.write(encode(event) + b"\n")
        else:
            flat = _flatten(json.loads(encode(event)))
            self._csv.writerow(["" if flat.get(column) is None else _cell(flat[column]) for column in self._columns])
        self.count += 1

    def close(self) -> None:
        """Flush and close the file."""
        if self._csv is not None:
            self._text.close()
        else:
            self._binary.close()


def _flatten(document: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in document.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{inner}": item for inner, item in value.items()})
        else:
            flat[name] = value
    return flat


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class DatasetFiles:
    """A dataset on disk: transactions in ``path``, labels next to it in ``<stem>.labels<suffix>``."""

    def __init__(self, path: Path, file_format: FileFormat | None = None) -> None:
        kind = format_of(path, file_format)
        self.transactions = EventWriter(path, Transaction, kind)
        self.labels = EventWriter(path.with_name(f"{path.stem}.labels{path.suffix}"), Label, kind)

    async def send(self, event: Event) -> None:
        """Write one event to the file of its type."""
        (self.labels if isinstance(event, Label) else self.transactions).write(event)

    def close(self) -> None:
        """Close both files."""
        self.transactions.close()
        self.labels.close()
