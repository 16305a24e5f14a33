"""The OpenAPI 3.1 document of the scorer's HTTP API, served at ``/openapi.json``.

Built from the same pydantic models as the shipped JSON Schemas (:mod:`schemas.events`: the
transaction a caller sends and the verdict it gets) and the API's own bodies
(:mod:`scorer.api_models`). OpenAPI 3.1 schemas are JSON Schema 2020-12, so pydantic's schemas go
in unchanged (except, as in :func:`schemas.generate.render`, ``schema_version``: defaulted for
Python callers, required on the wire).

The document is the same for every worker and configuration: it names no host, token, origin or
setting value, so it is served without a credential (as is the docs page rendered from it). It says
which operations need the bearer token.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.events import Event, Transaction, Verdict
from schemas.examples import example_transaction
from schemas.fields import SCHEMA_VERSION
from scorer.api_models import BatchResult, ErrorBody

__all__ = ["OPENAPI_VERSION", "openapi_bytes", "openapi_document"]

OPENAPI_VERSION: Final = "3.1.0"

_REF: Final = "#/components/schemas/{model}"
_BEARER: Final[list[dict[str, list[str]]]] = [{"bearerToken": []}]
_OPEN: Final[list[dict[str, list[str]]]] = []
_JSON: Final = "application/json"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _content(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {_JSON: media}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _content(_ref(ErrorBody))}


def _object(description: str) -> dict[str, Any]:
    return {"description": description, "content": _content({"type": "object"})}


_AUTH_ERRORS: Final = {
    "401": _error("No credential, or a malformed one (with `WWW-Authenticate: Bearer`)."),
    "403": _error("A token that is not valid, or no token configured on the worker (the write is disabled)."),
}


def _flag(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description + " `true`/`false` (also `1`/`0`, `yes`/`no`); default `false`.",
        "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"], "default": "false"},
    }


def _score_operation() -> dict[str, Any]:
    example = json.loads(example_transaction().model_dump_json())
    return {
        "operationId": "score",
        "summary": "Score one transaction or a batch",
        "description": (
            "Scores with the same features and model as the stream. A JSON object is one transaction "
            "(answer: its verdict); a JSON array is a batch (answer: one result per row, in order: valid rows "
            "scored, invalid, stale or conflicting rows rejected with their index and reason) unless "
            "`all_or_nothing=true`, where one bad row refuses the whole batch (400 or 409) and nothing is "
            "scored or recorded. Read-only on the online features unless `record=true`, which needs the "
            "bearer token. Without a valid token a request holds at most 100 transactions (with it, 10,000), "
            "and a conflicting id is reported without naming the stored facts. The whole request needs the "
            "token when the worker runs with `FRAUD_API_SCORE_REQUIRES_TOKEN=true`. Send "
            "`Content-Type: application/json`."
        ),
        "parameters": [
            _flag("record", "Record the transactions in the online features (needs the bearer token)."),
            _flag("all_or_nothing", "Refuse the whole batch when any row is invalid, stale or conflicting."),
        ],
        "requestBody": {
            "required": True,
            "content": _content(
                {"oneOf": [_ref(Transaction), {"type": "array", "items": _ref(Transaction), "minItems": 1}]},
                example,
            ),
        },
        "security": [*_BEARER, {}],
        "responses": {
            "200": {
                "description": "The verdict (one transaction) or the per-row results (a batch).",
                "content": _content({"oneOf": [_ref(Verdict), _ref(BatchResult)]}),
            },
            "400": _error(
                "Not JSON, not a transaction or a non-empty array, an unknown query parameter, or (one "
                "transaction, or `all_or_nothing`) invalid or stale transactions, listed in `problems`."
            ),
            **_AUTH_ERRORS,
            "409": _error("(One transaction, or `all_or_nothing`) ids recorded before with other facts."),
            "413": _error("Too many transactions or too large a body."),
            "415": _error("A Content-Type other than JSON."),
            "503": _error("The feature store is unreachable; retry later."),
        },
    }


def _components() -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (Transaction, "validation"),
            (Verdict, "serialization"),
            (BatchResult, "serialization"),
            (ErrorBody, "serialization"),
        ],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = top["$defs"]
    for model in (Transaction, Verdict):
        _require_schema_version(schemas[model.__name__], model)
    return schemas


def _require_schema_version(schema: dict[str, Any], model: type[Event]) -> None:
    schema["properties"]["schema_version"].pop("default", None)
    required = [name for name in schema.get("required", []) if name != "schema_version"]
    schema["required"] = ["schema_version", *required]
    schema["description"] = schema.get("description", "") + f" (JSON Schema: {model.event_name}.v{SCHEMA_VERSION})"


def _get(operation_id: str, summary: str, description: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "security": _OPEN,
            "responses": {"200": ok},
        }
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy)."""
    document: dict[str, Any] = json.loads(openapi_bytes())
    return document


@cache
def openapi_bytes() -> bytes:
    """The OpenAPI document as served (built once)."""
    text = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "fraudstream scorer",
            "version": f"{SCHEMA_VERSION}",
            "description": (
                "Scores card transactions with the model the registry names champion and the online "
                "features in Redis. Every error answer is a JSON object with an `error` message. Open to any "
                "caller: the GET endpoints and `/openapi.json`, `/docs` (they reveal the model version, "
                "health and counters, never a feature value or a setting). `POST /reload` and "
                "`POST /score?record=true` need `Authorization: Bearer <token>` (a token of "
                "`FRAUD_API_TOKEN`; unset on the worker: refused). Browser pages from the origins of "
                "`FRAUD_SCORER_CORS_ORIGINS` may call the API (CORS), with the same credentials."
            ),
        },
        "components": {
            "schemas": _components(),
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token of the worker's FRAUD_API_TOKEN.",
                }
            },
        },
        "paths": {
            "/score": {"post": _score_operation()},
            "/reload": {
                "post": {
                    "operationId": "reload",
                    "summary": "Check the registry now and swap to the current champion",
                    "description": "Loads, verifies and validates the version the champion alias names.",
                    "security": _BEARER,
                    "responses": {
                        "200": _object("The refreshes done (`refreshes`: alias, version, swapped, error)."),
                        **_AUTH_ERRORS,
                        "503": _object("A refresh failed; the previous model stays in use."),
                    },
                }
            },
            "/model": _get(
                "model",
                "The model in use",
                "Version, load time, artifact digest and validation of the champion (and challenger), and the "
                "last refreshes.",
                _object("The model report."),
            ),
            "/health": _get(
                "health",
                "Liveness",
                "200 while the process answers, even when stalled (a restart fixes neither a deleted topic nor a "
                "full Redis); says how long it has been stalled and the last error.",
                _object("Alive."),
            ),
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness",
                    "description": "Model loaded, Redis accepting the feature store's calls and no stall.",
                    "security": _OPEN,
                    "responses": {"200": _object("Ready."), "503": _object("Not ready: the body says which part.")},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "description": "The Prometheus text format (see METRICS.md).",
                    "security": _OPEN,
                    "responses": {
                        "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}
                    },
                }
            },
            "/openapi.json": _get(
                "openapi", "This document", "The OpenAPI 3.1 document of the API.", _object("The document.")
            ),
            "/docs": {
                "get": {
                    "operationId": "docs",
                    "summary": "This document as a web page",
                    "description": "Self-contained HTML (no script, no external resource).",
                    "security": _OPEN,
                    "responses": {
                        "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}
                    },
                }
            },
        },
    }
    return json.dumps(text, sort_keys=True).encode()
