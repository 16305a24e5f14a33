"""The scorer's HTTP endpoints, served by Faust's web server (described at ``/openapi.json``).

* ``POST /score[?record=true][&all_or_nothing=true]`` — one transaction (JSON object) or a batch
  (JSON array), scored synchronously by the stream's scoring core (:mod:`scorer.score_requests`:
  statuses, per-row results and the all-or-nothing mode). Read-only on the online features unless
  ``record=true``, which needs the API token. A conflicting id's stored facts are named only to a
  caller with a valid token, so a read-only peek cannot read a stored transaction's customer,
  terminal or amount. Without a valid token a request holds at most :data:`MAX_OPEN_SCORE_BATCH`
  transactions (with one, :data:`MAX_SCORE_BATCH`). JSON only (415 for another ``Content-Type``),
  an unknown query parameter or flag value is a 400, a body over :data:`MAX_BODY_BYTES` a 413.
* ``POST /reload`` — check the registry now and swap to the current champion (needs the API token).
* ``GET /model`` — the version in use, when it was loaded, its validation, the last refreshes.
* ``GET /health`` (liveness: the process answers; 200 even when stalled, since a restart fixes
  neither a deleted topic nor a full Redis), ``GET /ready`` (model loaded, Redis accepting the
  feature store's calls, no stall; 503 otherwise, the body says which and names the last error).
* ``GET /metrics`` — Prometheus text format.
* ``GET /openapi.json`` — the OpenAPI 3.1 document (:mod:`scorer.openapi`); ``GET /docs`` — it as a
  self-contained web page (:mod:`scorer.docs_page`).

The writes need ``Authorization: Bearer <FRAUD_API_TOKEN>`` (:mod:`scorer.http_auth`); read-only
``POST /score`` too with ``FRAUD_API_SCORE_REQUIRES_TOKEN``. The ``GET`` endpoints are always open:
they reveal the model version, health, counters and the (static) API description, never a feature
value, a token or a setting. Errors are JSON, CORS and request metrics are handled for every answer
by :mod:`scorer.http_middleware`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fraudcore.settings import Settings
from scorer.docs_page import docs_html
from scorer.http_auth import BearerTokens, Refusal
from scorer.http_middleware import CorsPolicy, api_middleware
from scorer.model_holder import RefreshOutcome
from scorer.openapi import openapi_bytes
from scorer.runtime import ScorerRuntime
from scorer.score_requests import ScoreOptions, score_request
from scorer.scoring import utc_now

__all__ = ["MAX_BODY_BYTES", "MAX_OPEN_SCORE_BATCH", "MAX_SCORE_BATCH", "register_views", "web_application_options"]

log = logging.getLogger(__name__)

MAX_SCORE_BATCH = 10_000
MAX_OPEN_SCORE_BATCH = 100
"""Transactions per read-only ``POST /score`` without a valid token: each row costs the feature store
work in proportion to its card's and terminal's history, so an anonymous caller gets small batches."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest request body the scorer reads (413 beyond)."""
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_SCORE_PARAMETERS = ("record", "all_or_nothing")
_LIMIT_HINT = {
    MAX_SCORE_BATCH: "",
    MAX_OPEN_SCORE_BATCH: f" without the bearer token of FRAUD_API_TOKEN (with it: {MAX_SCORE_BATCH})",
}
_METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";", 1)[0] + "; version=0.0.4"  # aiohttp adds the charset


def web_application_options(settings: Settings, runtime: ScorerRuntime) -> dict[str, Any]:
    """The aiohttp application options of the scorer's web server (Faust's ``web_application_options``):
    the body size limit and the middleware that makes errors JSON, answers CORS and counts requests."""
    return {
        "client_max_size": MAX_BODY_BYTES,
        "middlewares": [api_middleware(runtime.metrics, CorsPolicy.of(settings.cors_origins))],
    }


def register_views(app: faust.App, runtime: ScorerRuntime) -> None:
    """Add the scorer's views to ``app``'s web server."""
    tokens = BearerTokens.from_settings(runtime.settings)
    score_needs_token = runtime.settings.api_score_requires_token
    log.info("HTTP API: %s", _access_summary(tokens, score_needs_token=score_needs_token))

    @app.page("/score")
    class Score(View):
        async def post(self, request: Request) -> Response:
            try:
                record, all_or_nothing = _score_flags(request.query)
            except ValueError as exc:
                return _error(self, 400, str(exc))
            refusal = tokens.check(request.headers.get("Authorization"))
            if (record or score_needs_token) and refusal:
                return _refused(self, refusal)
            if not _is_json(request.headers.get("Content-Type")):
                return _error(self, 415, "send the transactions as JSON (Content-Type: application/json)")
            body = await request.read()  # over MAX_BODY_BYTES: 413 (the web application's client_max_size)
            limit = MAX_SCORE_BATCH if refusal is None else MAX_OPEN_SCORE_BATCH
            options = ScoreOptions(
                record=record,
                all_or_nothing=all_or_nothing,
                disclose_conflicts=refusal is None,
                limit=limit,
                limit_hint=_LIMIT_HINT[limit],
            )
            answer = await score_request(runtime.scorer, body, options, now=utc_now())
            return self.bytes(answer.body, status=answer.status, content_type="application/json")

    @app.page("/openapi.json")
    class OpenApi(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(openapi_bytes(), content_type="application/json")

    @app.page("/docs")
    class Docs(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(docs_html(), content_type="text/html")

    @app.page("/reload")
    class Reload(View):
        async def post(self, request: Request) -> Response:
            if refusal := tokens.check(request.headers.get("Authorization")):
                return _refused(self, refusal)
            outcomes = await runtime.refresh_models(trigger="admin request")
            failed = any(outcome.failed for outcome in outcomes)
            return self.json({"refreshes": [_outcome(o) for o in outcomes]}, status=503 if failed else 200)

    @app.page("/model")
    class Model(View):
        async def get(self, request: Request) -> Response:
            models = runtime.models
            held = {alias: getattr(models, alias) for alias in ("champion", "challenger") if _loaded(models, alias)}
            return self.json(
                {
                    "model": models.model_name,
                    **{
                        alias: {
                            "version": model.version,
                            "loaded_at": model.loaded_at.isoformat(),
                            "artifact_digest": model.artifact_digest,
                            "validation": {
                                "features_match": model.validation.features_match,
                                "reference_rows": model.validation.reference_rows,
                                "min_score": model.validation.min_score,
                                "max_score": model.validation.max_score,
                            },
                        }
                        for alias, model in held.items()
                    },
                    "last_refresh": {alias: _outcome(o) for alias, o in models.last_outcome.items()},
                }
            )

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "alive", "at": utc_now().isoformat(), **_progress(runtime)})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready = runtime.ready
            down = runtime.store_down
            body = {
                "ready": ready,
                "feature_store": runtime.redis_ok,
                "feature_store_error": None if down is None else {"kind": down.kind, "message": str(down)},
                "model_loaded": _loaded(runtime.models, "champion"),
                "redis_eviction": None
                if runtime.eviction is None
                else {
                    "policy": runtime.eviction.policy,
                    "evicts": runtime.eviction.evicts,
                    "detail": runtime.eviction.detail,
                },
                **_progress(runtime),
            }
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(runtime.metrics.registry), content_type=_METRICS_CONTENT_TYPE)


def _progress(runtime: ScorerRuntime) -> dict[str, Any]:
    """``stalled_for_s`` (None unless stalled) and the last error that kept a batch from completing."""
    stall = runtime.progress.stall()
    error = runtime.progress.last_error
    return {
        "stalled_for_s": None if stall is None else round(stall.for_s, 1),
        "stall_bound_s": runtime.progress.bound_s,
        "last_error": None
        if error is None
        else {"error": error.error, "message": error.message, "needs_operator": error.needs_operator},
    }


def _loaded(models: Any, alias: str) -> bool:
    try:
        return getattr(models, alias) is not None
    except RuntimeError:
        return False


def _outcome(outcome: RefreshOutcome) -> dict[str, Any]:
    error = outcome.error
    return {
        "alias": outcome.alias,
        "version": outcome.version,
        "previous_version": outcome.previous_version,
        "swapped": outcome.swapped,
        "error": None if error is None else {"reason": error.reason.value, "message": error.message},
    }


def _access_summary(tokens: BearerTokens, *, score_needs_token: bool) -> str:
    """What an unauthenticated caller can and cannot do, in words (logged once at start)."""
    guarded = "POST /reload, POST /score?record=true" + (", POST /score" if score_needs_token else "")
    opened = "GET /health, /ready, /metrics, /model, /openapi.json, /docs" + (
        "" if score_needs_token else ", POST /score (read-only)"
    )
    how = "need the bearer token of FRAUD_API_TOKEN" if tokens.configured else "refused (set FRAUD_API_TOKEN)"
    return f"open: {opened}; {guarded}: {how}"


def _score_flags(query: Mapping[str, str]) -> tuple[bool, bool]:
    """``record`` and ``all_or_nothing`` of a ``POST /score`` query; ValueError names what is wrong."""
    unknown = sorted(set(query) - set(_SCORE_PARAMETERS))
    if unknown:
        raise ValueError(
            f"unknown query parameter {', '.join(unknown)}: POST /score takes {', '.join(_SCORE_PARAMETERS)}"
        )
    flags = []
    for name in _SCORE_PARAMETERS:
        value = query.get(name, "false")
        if value.lower() not in _FLAGS:
            raise ValueError(f"{name}={value!r}: expected true or false")
        flags.append(_FLAGS[value.lower()])
    return flags[0], flags[1]


def _is_json(content_type: str | None) -> bool:
    """Whether a request's ``Content-Type`` is JSON (``application/json``, ``*/*+json``) or absent."""
    if content_type is None or not content_type.strip():
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _refused(view: View, refusal: Refusal) -> Response:
    return view.json({"error": refusal.message}, status=refusal.status, headers=refusal.headers)


def _error(view: View, status: int, message: str) -> Response:
    return view.json({"error": message}, status=status)
