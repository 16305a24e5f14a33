"""``POST /score``'s core: per-row batch results, all-or-nothing, single transactions, malformed and
oversized requests; every answer checked against the OpenAPI document's schemas."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jsonschema
import pytest

from fraudcore.features.definition import DEFAULT_SPEC, TxFacts, counts_only, epoch_ms
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.models import CHAMPION
from schemas.codec import encode
from schemas.events import Transaction
from schemas.examples import EXAMPLE_NOW, example_transaction
from scorer.decisions import Thresholds
from scorer.model_holder import ModelHolder
from scorer.openapi import openapi_document
from scorer.score_requests import Answer, ScoreOptions, score_request
from scorer.scoring import BatchScorer
from tests.unit.scorer.twins import MemorySource, loaded_model

BATCH = ScoreOptions(limit=100)


async def _scorer() -> tuple[BatchScorer, MemoryFeatureStore]:
    source = MemorySource()
    source.versions = {"1": loaded_model("1")}
    source.aliases = {CHAMPION: "1"}
    holder = ModelHolder(source)
    await holder.start()
    store = MemoryFeatureStore()
    return BatchScorer(store, holder, Thresholds(), clock=lambda: EXAMPLE_NOW), store


def _tx(i: int, **changes: Any) -> dict[str, Any]:
    base = example_transaction()
    moved = base.model_copy(update={"transaction_id": f"tx{i}", "event_time": base.event_time + timedelta(minutes=i)})
    document: dict[str, Any] = json.loads(encode(moved))
    return document | changes


def _body(document: Any) -> bytes:
    return json.dumps(document).encode()


def _check(answer: Answer, component: str) -> dict[str, Any]:
    """The answer's JSON, validated against ``component`` of the OpenAPI document."""
    document: dict[str, Any] = json.loads(answer.body)
    spec = openapi_document()
    schema = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)
    return document


async def _customer_count(store: MemoryFeatureStore, transaction: dict[str, Any]) -> int:
    facts = TxFacts.of(Transaction.model_validate_json(_body(transaction)))
    counts = counts_only(await store.peek_transactions([facts]))[0]
    return int(counts.customer_count[0])


async def test_a_batch_scores_its_valid_rows_and_reports_the_others_by_index() -> None:
    scorer, store = await _scorer()
    rows = [_tx(0), _tx(1, amount="12.5"), _tx(2), {"not": "a transaction"}, 7, _tx(5)]
    answer = await score_request(scorer, _body(rows), BATCH, now=EXAMPLE_NOW)
    assert answer.status == 200
    result = _check(answer, "BatchResult")
    assert [(r["index"], r["status"]) for r in result["results"]] == [
        (0, "scored"),
        (1, "rejected"),
        (2, "scored"),
        (3, "rejected"),
        (4, "rejected"),
        (5, "scored"),
    ]
    assert (result["scored"], result["rejected"]) == (3, 3)
    assert [r["verdict"]["transaction_id"] for r in result["results"] if r["status"] == "scored"] == [
        "tx0",
        "tx2",
        "tx5",
    ]
    wrong = result["results"][1]
    assert (wrong["reason_code"], wrong["field"]) == ("wrong_type", "amount")
    assert result["results"][3]["reason_code"] == "missing_field"
    assert result["results"][4]["reason_code"] == "wrong_type"
    assert await _customer_count(store, _tx(9)) == 1, "read-only: nothing recorded"


async def test_a_recorded_batch_records_only_its_valid_rows() -> None:
    scorer, store = await _scorer()
    rows = [_tx(0), _tx(1, amount=-1), _tx(2)]
    answer = await score_request(scorer, _body(rows), ScoreOptions(record=True, limit=100), now=EXAMPLE_NOW)
    result = _check(answer, "BatchResult")
    assert (result["scored"], result["rejected"]) == (2, 1)
    assert result["results"][1]["reason_code"] == "out_of_range"
    assert await _customer_count(store, _tx(9)) == 3, "the two valid rows and the probe itself"


async def test_all_or_nothing_refuses_the_whole_batch_and_records_nothing() -> None:
    scorer, store = await _scorer()
    options = ScoreOptions(record=True, all_or_nothing=True, limit=100)
    answer = await score_request(scorer, _body([_tx(0), _tx(1, amount="x"), _tx(2)]), options, now=EXAMPLE_NOW)
    assert answer.status == 400
    error = _check(answer, "ErrorBody")
    assert [(p["index"], p["field"]) for p in error["problems"]] == [(1, "amount")]
    assert await _customer_count(store, _tx(9)) == 1

    answer = await score_request(scorer, _body([_tx(0), _tx(2)]), options, now=EXAMPLE_NOW)
    assert _check(answer, "BatchResult")["scored"] == 2
    assert await _customer_count(store, _tx(9)) == 3


async def test_conflicting_ids_per_row_and_all_or_nothing() -> None:
    scorer, store = await _scorer()
    await score_request(scorer, _body([_tx(0)]), ScoreOptions(record=True, limit=100), now=EXAMPLE_NOW)
    forged = _tx(0, amount=999.0)

    per_row = await score_request(scorer, _body([_tx(1), forged]), BATCH, now=EXAMPLE_NOW)
    result = _check(per_row, "BatchResult")
    assert [r["status"] for r in result["results"]] == ["scored", "rejected"]
    assert result["results"][1]["reason_code"] == "conflicting_duplicate"
    assert "amount" not in result["results"][1]["message"], "undisclosed to a caller without the token"

    disclosed = ScoreOptions(record=True, all_or_nothing=True, disclose_conflicts=True, limit=100)
    atomic = await score_request(scorer, _body([_tx(1), forged]), disclosed, now=EXAMPLE_NOW)
    assert atomic.status == 409
    [problem] = _check(atomic, "ErrorBody")["problems"]
    assert problem["index"] == 1
    assert "another amount" in problem["message"]
    assert await _customer_count(store, _tx(9)) == 2, "all or nothing: tx1 was not recorded either"


async def test_stale_rows_are_rejected_per_row() -> None:
    scorer, _ = await _scorer()
    scorer.event_clock.observe([epoch_ms(example_transaction().event_time)] * 10)
    old = example_transaction().event_time - timedelta(milliseconds=DEFAULT_SPEC.claim_horizon_ms + 3_600_000)
    rows = [_tx(1), _tx(2, event_time=old.isoformat())]
    result = _check(await score_request(scorer, _body(rows), BATCH, now=EXAMPLE_NOW), "BatchResult")
    assert [r.get("reason_code") for r in result["results"]] == [None, "stale_event_time"]


async def test_one_transaction_keeps_its_verdict_and_its_400() -> None:
    scorer, _ = await _scorer()
    answer = await score_request(scorer, _body(_tx(0)), BATCH, now=EXAMPLE_NOW)
    assert answer.status == 200
    assert _check(answer, "Verdict")["transaction_id"] == "tx0"
    answer = await score_request(scorer, _body(_tx(0, currency="euro")), BATCH, now=EXAMPLE_NOW)
    assert answer.status == 400
    assert _check(answer, "ErrorBody")["problems"][0]["field"] == "currency"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not JSON"),
        (b"\xff\xfe", 400, "not JSON"),
        (b"[]", 400, "array of 1 to 3"),
        (b'"a string"', 400, "array of 1 to 3"),
        (b"null", 400, "array of 1 to 3"),
        (b"[1, 2, 3, 4]", 413, "at most 3 per request, with the token more"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "too deeply"),
    ],
)
async def test_malformed_and_oversized_requests_get_a_json_error(body: bytes, status: int, words: str) -> None:
    scorer, _ = await _scorer()
    options = ScoreOptions(limit=3, limit_hint=", with the token more")
    answer = await score_request(scorer, body, options, now=EXAMPLE_NOW)
    assert answer.status == status
    assert words in _check(answer, "ErrorBody")["error"]
