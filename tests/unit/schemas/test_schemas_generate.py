"""The shipped JSON Schema files: up to date, valid draft 2020-12, and carrying the constraints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas import MAX_AMOUNT, Transaction
from schemas.generate import EVENT_TYPES, SCHEMA_DIR, main, render, schema_path, stale_files, write_all

pytestmark = pytest.mark.unit


def _shipped(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return document


def test_shipped_files_are_up_to_date() -> None:
    assert stale_files() == []
    assert main(["--check"]) == 0


def test_check_mode_detects_stale_missing_and_unexpected_files(tmp_path: Path) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1  # all missing
    assert len(write_all(tmp_path)) == len(EVENT_TYPES)
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    assert write_all(tmp_path) == []  # nothing to rewrite

    transaction = schema_path(Transaction, tmp_path)
    transaction.write_text(transaction.read_text(encoding="utf-8").replace('"minimum": 0', '"minimum": -5'))
    (tmp_path / "refund.v1.schema.json").write_text("{}\n")
    schema_path(EVENT_TYPES[1], tmp_path).unlink()
    assert sorted(stale_files(tmp_path)) == [
        "missing: label.v1.schema.json",
        "stale: transaction.v1.schema.json",
        "unexpected: refund.v1.schema.json",
    ]
    assert main(["--check", "--dir", str(tmp_path)]) == 1


def test_rendering_is_deterministic_sorted_and_newline_terminated() -> None:
    for event_type in EVENT_TYPES:
        text = render(event_type)
        assert text == render(event_type)
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda event_type: event_type.__name__)
def test_shipped_schema_is_valid_draft_2020_12(event_type: type[Transaction]) -> None:
    schema = _shipped(schema_path(event_type).name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"][0] == "schema_version"
    assert schema["properties"]["schema_version"] == {
        "const": 1,
        "description": schema["properties"]["schema_version"]["description"],
        "title": "Schema Version",
        "type": "integer",
    }
    assert schema["additionalProperties"] is True


def test_transaction_schema_carries_the_model_constraints() -> None:
    schema = _shipped("transaction.v1.schema.json")
    properties = schema["properties"]
    assert set(schema["required"]) == {
        "schema_version",
        "transaction_id",
        "event_time",
        "customer_id",
        "terminal_id",
        "amount",
    }
    assert properties["amount"]["type"] == "number"
    assert (properties["amount"]["minimum"], properties["amount"]["maximum"]) == (0, MAX_AMOUNT)
    for name in ("transaction_id", "customer_id", "terminal_id"):
        assert (properties[name]["minLength"], properties[name]["maxLength"]) == (1, 128)
    event_time = properties["event_time"]
    assert event_time["format"] == "date-time"
    assert event_time["pattern"].endswith("(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$")  # the offset is mandatory
    assert schema["$defs"]["Channel"]["enum"] == ["pos", "ecom", "atm", "moto"]
    assert schema["$defs"]["Location"]["properties"]["lat"] == {
        "description": "Latitude in degrees.",
        "maximum": 90,
        "minimum": -90,
        "title": "Lat",
        "type": "number",
    }
