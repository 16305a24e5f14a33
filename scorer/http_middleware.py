"""What every answer of the scorer's HTTP server goes through: JSON errors, CORS and request metrics.

One aiohttp middleware (:func:`api_middleware`), so the rules hold for the scorer's views and for
what aiohttp answers by itself alike:

* **JSON errors.** Every error status is a JSON object ``{"error": "<message>"}``: an unknown path
  (404), a method the path does not serve (405, with ``Allow``), a body over the size limit (413),
  and an unexpected failure (500, logged with its traceback; the caller learns nothing more).
* **CORS** (:class:`CorsPolicy`, from ``FRAUD_SCORER_CORS_ORIGINS``). A request whose ``Origin`` is
  allowed gets ``Access-Control-Allow-Origin`` (the origin itself); others get no CORS header, so a
  browser hides the answer from the page. With any origin configured, every answer says
  ``Vary: Origin``. A preflight (``OPTIONS`` with
  ``Origin`` and ``Access-Control-Request-Method``) from an allowed origin, for a method the path
  serves, is answered 204 with the allowed methods and headers (``Authorization``,
  ``Content-Type``); any other preflight gets 403 with a JSON reason. CORS never replaces the bearer
  token: a page from an allowed origin still needs it where any other caller does.
* **Metrics**: ``fraudstream_scorer_http_requests_total`` by route, method and status and
  ``fraudstream_scorer_http_request_seconds`` by route and method. The route is the path template
  (``unmatched`` for a path no route serves) and an unusual method counts as ``other``, so a
  scanner cannot create series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from scorer.metrics import ScorerMetrics

__all__ = ["UNMATCHED", "CorsPolicy", "api_middleware", "json_error"]

log = logging.getLogger(__name__)

UNMATCHED: Final = "unmatched"
"""The ``route`` label of a request for a path no route serves."""

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ALLOWED_HEADERS: Final = "Authorization, Content-Type"
_PREFLIGHT_MAX_AGE_S: Final = 600


@dataclass(frozen=True)
class CorsPolicy:
    """Which browser origins may read the API's answers (none: CORS is off)."""

    origins: frozenset[str]

    @classmethod
    def of(cls, origins: Sequence[str]) -> CorsPolicy:
        return cls(frozenset(origins))

    def allows(self, origin: str | None) -> bool:
        return origin is not None and ("*" in self.origins or origin in self.origins)


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error answer: ``{"error": message}`` with ``status``."""
    return web.json_response({"error": message}, status=status, headers=headers)


def api_middleware(metrics: ScorerMetrics, cors: CorsPolicy) -> Middleware:
    """The middleware of the scorer's web application (see the module doc)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = _route(request)
        method = request.method if request.method in _METHODS else "other"
        origin = request.headers.get(hdrs.ORIGIN)
        response: web.StreamResponse | None = None
        try:
            if request.method == hdrs.METH_OPTIONS:
                response = _options(request, route, cors, origin)
            else:
                response = await _answer(request, handler)
            if cors.origins:  # the answer depends on the Origin: caches must keep them apart
                response.headers.add(hdrs.VARY, hdrs.ORIGIN)
            if cors.allows(origin):
                _allow_origin(response, origin)
            return response
        finally:
            status = str(response.status) if response is not None else "500"
            metrics.http_requests.labels(route, method, status).inc()
            metrics.http_request_seconds.labels(route, method).observe(time.perf_counter() - started)

    return middleware


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer, with aiohttp's own errors (and any failure) turned into JSON."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        allowed = _served(exc.allowed_methods)
        return json_error(
            405,
            f"{request.method} is not served on {request.path}; allowed: {', '.join(allowed)}",
            {hdrs.ALLOW: ", ".join(allowed)},
        )
    except web.HTTPNotFound:
        return json_error(404, f"no such route: {request.path} (the API is described at /openapi.json)")
    except web.HTTPRequestEntityTooLarge as exc:
        return json_error(413, f"the body is over the limit: {exc.text or 'too large'}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason, {k: v for k, v in exc.headers.items() if k == hdrs.ALLOW})
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)
        return json_error(500, "internal error (logged by the scorer)")


def _options(request: web.Request, route: str, cors: CorsPolicy, origin: str | None) -> web.StreamResponse:
    """The answer to ``OPTIONS``: a preflight (see the module doc) or the methods the path serves."""
    if route == UNMATCHED:
        return json_error(404, f"no such route: {request.path} (the API is described at /openapi.json)")
    methods = _methods(request, route)
    asked = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD)
    if origin is None or asked is None:
        return web.Response(status=204, headers={hdrs.ALLOW: ", ".join([*methods, "OPTIONS"])})
    if not cors.allows(origin):
        why = "CORS is off (FRAUD_SCORER_CORS_ORIGINS is empty)" if not cors.origins else "not an allowed origin"
        return json_error(403, f"cross-origin requests from {origin} are refused: {why}")
    if asked not in methods:
        return json_error(403, f"{asked} is not served on {request.path}; allowed: {', '.join(methods)}")
    return web.Response(
        status=204,
        headers={
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: ", ".join(methods),
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: _ALLOWED_HEADERS,
            hdrs.ACCESS_CONTROL_MAX_AGE: str(_PREFLIGHT_MAX_AGE_S),
        },
    )


def _allow_origin(response: web.StreamResponse, origin: str | None) -> None:
    assert origin is not None
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = hdrs.WWW_AUTHENTICATE


def _route(request: web.Request) -> str:
    """The path template serving ``request``'s path (whatever its method), or :data:`UNMATCHED`."""
    for resource in request.app.router.resources():
        if resource.canonical == request.path:
            return resource.canonical
    return UNMATCHED


def _methods(request: web.Request, route: str) -> list[str]:
    """The methods (other than ``OPTIONS``) served on ``route``."""
    return _served(
        r.method for resource in request.app.router.resources() if resource.canonical == route for r in resource
    )


def _served(methods: Iterable[str]) -> list[str]:
    """``methods`` sorted, without ``OPTIONS`` and without ``HEAD`` unless ``GET`` is there (Faust
    registers ``HEAD`` for every view, answered by the view's ``GET``)."""
    found = set(methods) - {hdrs.METH_OPTIONS}
    if hdrs.METH_GET not in found:
        found.discard(hdrs.METH_HEAD)
    return sorted(found)
