"""The scorer's HTTP endpoints, served by Faust's web server.

* ``POST /score[?record=true]`` — one transaction (JSON object) or a batch (JSON array), scored
  synchronously with the same features and model as the stream. Read-only on the online features
  unless ``record=true``, which needs the API token. 400 with the reasons when any transaction is
  invalid or older than the features can use (``stale_event_time``; a recorded request also moves the
  worker's event-time clock), 409 naming the transactions whose id was recorded before with other facts
  (``conflicting_duplicate``: they are not scored, peeked or recorded; with ``record=true`` the other
  transactions of the request were recorded, and sending them again is idempotent), 503 while Redis
  is unreachable. The 409 names the fields that differ from the stored transaction only to a caller
  with a valid token: to anyone else it says no more than that the id was recorded with other
  content, so a read-only peek cannot read a stored transaction's customer, terminal or amount.
  Without a valid token a request holds at most :data:`MAX_OPEN_SCORE_BATCH` transactions (with one,
  :data:`MAX_SCORE_BATCH`).
* ``POST /reload`` — check the registry now and swap to the current champion (needs the API token).
* ``GET /model`` — the version in use, when it was loaded, its validation, the last refreshes.
* ``GET /health`` (liveness: the process answers; 200 even when stalled, since a restart fixes
  neither a deleted topic nor a full Redis), ``GET /ready`` (model loaded, Redis accepting the
  feature store's calls, no stall; 503 otherwise, the body says which and names the last error).
* ``GET /metrics`` — Prometheus text format.

The writes need ``Authorization: Bearer <FRAUD_API_TOKEN>`` (:mod:`scorer.http_auth`); read-only
``POST /score`` too with ``FRAUD_API_SCORE_REQUIRES_TOKEN``. The ``GET`` endpoints are always open:
they reveal the model version, health and counters, never a feature value.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fraudcore.features.store import FeatureStoreUnavailable
from schemas.codec import Decoded, decode, encode
from schemas.events import Transaction
from schemas.rejection import Rejected
from scorer.http_auth import BearerTokens, Refusal
from scorer.model_holder import RefreshOutcome
from scorer.runtime import ScorerRuntime
from scorer.scoring import ConflictingTransactions, conflict_rejection, undisclosed_conflict, utc_now

__all__ = ["MAX_OPEN_SCORE_BATCH", "MAX_SCORE_BATCH", "register_views"]

log = logging.getLogger(__name__)

MAX_SCORE_BATCH = 10_000
MAX_OPEN_SCORE_BATCH = 100
"""Transactions per read-only ``POST /score`` without a valid token: each row costs the feature store
work in proportion to its card's and terminal's history, so an anonymous caller gets small batches."""
_MAX_BODY_BYTES = 16 * 1024 * 1024
_LIMIT_HINT = {
    MAX_SCORE_BATCH: "",
    MAX_OPEN_SCORE_BATCH: f" without the bearer token of FRAUD_API_TOKEN (with it: {MAX_SCORE_BATCH})",
}
_METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";", 1)[0] + "; version=0.0.4"  # aiohttp adds the charset


def register_views(app: faust.App, runtime: ScorerRuntime) -> None:
    """Add the scorer's views to ``app``'s web server."""
    tokens = BearerTokens.from_settings(runtime.settings)
    score_needs_token = runtime.settings.api_score_requires_token
    log.info("HTTP API: %s", _access_summary(tokens, score_needs_token=score_needs_token))

    @app.page("/score")
    class Score(View):
        async def post(self, request: Request) -> Response:
            record = request.query.get("record", "false").lower() in ("1", "true", "yes")
            refusal = tokens.check(request.headers.get("Authorization"))
            if (record or score_needs_token) and refusal:
                return _refused(self, refusal)
            body = await request.read()
            if len(body) > _MAX_BODY_BYTES:
                return _error(self, 413, f"body over {_MAX_BODY_BYTES} bytes")
            try:
                document = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                return _error(self, 400, f"the body is not JSON: {exc}")
            single = isinstance(document, dict)
            items = [document] if single else document
            limit = MAX_SCORE_BATCH if refusal is None else MAX_OPEN_SCORE_BATCH
            if not isinstance(items, list) or not items or len(items) > limit:
                expected = f"expected a transaction object or an array of 1 to {limit}"
                return _error(self, 400, expected + _LIMIT_HINT[limit])
            transactions, problems = _decode_all(items)
            if not problems:
                stale = runtime.scorer.stale(transactions, observe=record)
                problems = [_problem(index, rejection) for index, rejection in enumerate(stale) if rejection]
            if problems:
                return self.json({"error": "invalid transactions", "problems": problems}, status=400)
            try:
                verdicts = await runtime.scorer.score(transactions, record=record)
            except FeatureStoreUnavailable as exc:
                return _error(self, 503, f"feature store unavailable: {exc}")
            except ConflictingTransactions as exc:
                conflicts = [
                    _problem(
                        index,
                        conflict_rejection(transactions[index], conflict)
                        if refusal is None
                        else undisclosed_conflict(),
                    )
                    for index, conflict in exc.conflicts
                ]
                return self.json({"error": "conflicting transactions", "problems": conflicts}, status=409)
            payload = b",".join(encode(verdict) for verdict in verdicts)
            return self.bytes(payload if single else b"[" + payload + b"]", content_type="application/json")

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


def _decode_all(items: list[Any]) -> tuple[list[Transaction], list[dict[str, Any]]]:
    now = utc_now()
    transactions: list[Transaction] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        result = decode(json.dumps(item, allow_nan=True).encode(), Transaction, now=now)
        if isinstance(result, Decoded):
            transactions.append(result.event)
        else:
            problems.append(_problem(index, result))
    return transactions, problems


def _problem(index: int, rejection: Rejected) -> dict[str, Any]:
    return {
        "index": index,
        "reason_code": rejection.reason_code.value,
        "field": rejection.field,
        "message": rejection.message,
    }


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
    opened = "GET /health, /ready, /metrics, /model" + ("" if score_needs_token else ", POST /score (read-only)")
    how = "need the bearer token of FRAUD_API_TOKEN" if tokens.configured else "refused (set FRAUD_API_TOKEN)"
    return f"open: {opened}; {guarded}: {how}"


def _refused(view: View, refusal: Refusal) -> Response:
    return view.json({"error": refusal.message}, status=refusal.status, headers=refusal.headers)


def _error(view: View, status: int, message: str) -> Response:
    return view.json({"error": message}, status=status)
