"""The scorer's HTTP API on a real worker (Kafka, Redis, MLflow): the OpenAPI document and docs page
open to anyone, per-row batch results and all-or-nothing, JSON for every error status (unknown
routes and methods, oversized, malformed or non-JSON bodies), CORS for the configured origin only,
the token still required from an allowed origin, and the requests in the metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
from openapi_spec_validator import validate

from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.events import Transaction
from schemas.examples import example_transaction
from scorer.openapi import openapi_document
from scorer.web import MAX_BODY_BYTES
from tests.integration.scorer_harness import Worker, register, scorer_setup, train_bundle

SITE = "https://console.example.com"


def _call(
    url: str, *, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request, sent as given."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _json_error(answer: tuple[int, dict[str, str], bytes], status: int) -> str:
    code, headers, body = answer
    assert code == status, body
    assert headers["Content-Type"].startswith("application/json"), headers
    message: str = json.loads(body)["error"]
    return message


def _transactions(count: int, prefix: str) -> list[Transaction]:
    base = example_transaction()
    return [
        base.model_copy(
            update={"transaction_id": f"{prefix}-{i}", "event_time": base.event_time + timedelta(seconds=i)}
        )
        for i in range(count)
    ]


def _batch(rows: list[Any]) -> bytes:
    return json.dumps(rows).encode()


def _rows(transactions: list[Transaction]) -> list[Any]:
    return [json.loads(encode(t)) for t in transactions]


def _valid(document: Any, component: str) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": openapi_document()["components"]}
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


def test_the_http_api_documents_itself_answers_json_and_scores_batches_per_row(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    register(setup, train_bundle(seed=1))
    worker = Worker(setup, tmp_path / "worker.log", FRAUD_SCORER_CORS_ORIGINS=SITE)
    json_type = {"Content-Type": "application/json"}
    bearer = {"Authorization": f"Bearer {setup.api_token}"} | json_type
    try:
        worker.wait_ready()
        # the description, open to anyone and the same as the code's
        status, headers, body = _call(worker.url("/openapi.json"))
        assert status == 200
        served = json.loads(body)
        validate(served)
        assert served == openapi_document()
        status, headers, page = _call(worker.url("/docs"))
        assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/html")
        assert b"<script" not in page
        assert b"/score" in page
        assert setup.api_token.encode() not in body + page

        # errors are JSON whatever answers them
        assert "no such route" in _json_error(_call(worker.url("/admin")), 404)
        assert "allowed: POST" in _json_error(_call(worker.url("/score")), 405)
        assert _call(worker.url("/score"), method="DELETE")[1]["Allow"] == "POST"
        _json_error(_call(worker.url("/metrics"), method="POST", body=b""), 405)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert "application/json" in _json_error(
            _call(worker.url("/score"), method="POST", body=b"a=1", headers=form), 415
        )
        score = worker.url("/score")
        one = encode(example_transaction())
        assert "unknown query parameter atomic" in _json_error(
            _call(score + "?atomic=true", method="POST", body=one, headers=json_type), 400
        )
        assert "record='ture'" in _json_error(
            _call(score + "?record=ture", method="POST", body=one, headers=bearer), 400
        )
        _json_error(_call(score, method="POST", body=b"[{", headers=json_type), 400)
        huge = b"[" + b" " * MAX_BODY_BYTES + b"]"
        assert "over the limit" in _json_error(_call(score, method="POST", body=huge, headers=bearer), 413)

        # per-row results, recorded only for the valid rows; all-or-nothing records nothing
        rows = _rows(_transactions(3, "row"))
        rows[1]["amount"] = "12.5"
        status, _, body = _call(score + "?record=true", method="POST", body=_batch(rows), headers=bearer)
        assert status == 200, body
        result = json.loads(body)
        _valid(result, "BatchResult")
        assert [r["status"] for r in result["results"]] == ["scored", "rejected", "scored"]
        assert (result["results"][1]["index"], result["results"][1]["field"]) == (1, "amount")
        probe = _transactions(1, "probe")[0].model_copy(update={"event_time": rows_time(3)})
        status, _, body = _call(score, method="POST", body=encode(probe), headers=json_type)
        assert json.loads(body)["features"]["customer_nb_tx_1d"] == 3.0, "two valid rows recorded, and the probe"
        atomic = _rows(_transactions(2, "atomic"))
        atomic[0]["currency"] = "euro"
        status, _, body = _call(
            score + "?record=true&all_or_nothing=true", method="POST", body=_batch(atomic), headers=bearer
        )
        assert status == 400, body
        assert [p["index"] for p in json.loads(body)["problems"]] == [0]
        status, _, body = _call(score, method="POST", body=encode(probe), headers=json_type)
        assert json.loads(body)["features"]["customer_nb_tx_1d"] == 3.0, "all or nothing: nothing recorded"

        # a batch over aiohttp's default 1 MiB body limit is read (the limit is MAX_BODY_BYTES)
        big = b"[" + b",".join(encode(t) for t in _transactions(5_000, "big")) + b"]"
        assert len(big) > 1024 * 1024
        status, _, body = _call(score, method="POST", body=big, headers=bearer)
        assert status == 200, body[:300]
        assert json.loads(body)["scored"] == 5_000

        # CORS: the configured origin only, and it does not replace the token
        preflight = {"Origin": SITE, "Access-Control-Request-Method": "POST"}
        status, headers, _ = _call(score, method="OPTIONS", headers=preflight)
        assert (status, headers["Access-Control-Allow-Origin"]) == (204, SITE)
        assert "Authorization" in headers["Access-Control-Allow-Headers"]
        evil = preflight | {"Origin": "https://evil.example.com"}
        answer = _call(score, method="OPTIONS", headers=evil)
        assert "not an allowed origin" in _json_error(answer, 403)
        assert "Access-Control-Allow-Origin" not in answer[1]
        status, headers, _ = _call(score, method="POST", body=one, headers=json_type | {"Origin": evil["Origin"]})
        assert status == 200
        assert "Access-Control-Allow-Origin" not in headers
        from_site = json_type | {"Origin": SITE}
        for url in (score + "?record=true", worker.url("/reload")):
            answer = _call(url, method="POST", body=one, headers=from_site)
            _json_error(answer, 401)
            assert answer[1]["Access-Control-Allow-Origin"] == SITE
            assert answer[1]["WWW-Authenticate"].startswith("Bearer")

        _, _, metrics = _call(worker.url("/metrics"))
        text = metrics.decode()
        for series in (
            'fraudstream_scorer_http_requests_total{method="POST",route="/score",status="200"}',
            'fraudstream_scorer_http_requests_total{method="GET",route="unmatched",status="404"}',
            'fraudstream_scorer_http_requests_total{method="OPTIONS",route="/score",status="403"}',
            'fraudstream_scorer_http_requests_total{method="POST",route="/reload",status="401"}',
            'fraudstream_scorer_http_request_seconds_count{method="GET",route="/openapi.json"}',
        ):
            assert series in text, series
    finally:
        assert worker.stop() == 0, worker.log()


def rows_time(seconds: int) -> Any:
    """The event time ``seconds`` after the example transaction."""
    return example_transaction().event_time + timedelta(seconds=seconds)
