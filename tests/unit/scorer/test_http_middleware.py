"""The scorer's HTTP middleware on a small aiohttp application: JSON for every error status, CORS
(off by default, preflights from other origins refused), request metrics with bounded labels."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from fraudcore.settings import Settings
from scorer.http_middleware import CorsPolicy, api_middleware
from scorer.metrics import ScorerMetrics

SITE = "https://console.example.com"


async def _score(request: web.Request) -> web.Response:
    return web.json_response({"read": len(await request.read())})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


async def _client(metrics: ScorerMetrics, origins: tuple[str, ...] = ()) -> TestClient[web.Request, web.Application]:
    app = web.Application(middlewares=[api_middleware(metrics, CorsPolicy.of(origins))], client_max_size=1024)
    app.router.add_post("/score", _score)
    app.router.add_get("/health", _health)
    app.router.add_get("/boom", _boom)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
def metrics() -> ScorerMetrics:
    return ScorerMetrics(CollectorRegistry())


@pytest.fixture
async def client(metrics: ScorerMetrics) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = await _client(metrics)
    yield client
    await client.close()


@pytest.fixture
async def cors_client(metrics: ScorerMetrics) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = await _client(metrics, (SITE,))
    yield client
    await client.close()


def _count(metrics: ScorerMetrics, route: str, method: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "fraudstream_scorer_http_requests_total", {"route": route, "method": method, "status": status}
    )
    return value or 0.0


async def test_unknown_routes_and_methods_are_answered_in_json(
    client: TestClient[web.Request, web.Application],
) -> None:
    answer = await client.get("/nowhere")
    assert (answer.status, answer.content_type) == (404, "application/json")
    assert "no such route: /nowhere" in (await answer.json())["error"]

    answer = await client.delete("/score")
    assert (answer.status, answer.content_type) == (405, "application/json")
    assert answer.headers["Allow"] == "POST"
    assert (await answer.json())["error"] == "DELETE is not served on /score; allowed: POST"

    answer = await client.get("/score")
    assert answer.status == 405
    assert (await answer.json())["error"].startswith("GET is not served")


async def test_an_oversized_body_and_a_failure_are_json_and_reveal_nothing(
    client: TestClient[web.Request, web.Application],
) -> None:
    answer = await client.post("/score", data=b"x" * 2048)
    assert (answer.status, answer.content_type) == (413, "application/json")
    assert "over the limit" in (await answer.json())["error"]
    assert (await (await client.post("/score", data=b"x" * 100)).json()) == {"read": 100}

    answer = await client.get("/boom")
    assert (answer.status, answer.content_type) == (500, "application/json")
    body = await answer.text()
    assert "secret internals" not in body
    assert "Traceback" not in body


async def test_without_origins_there_are_no_cors_headers_and_preflights_are_refused(
    client: TestClient[web.Request, web.Application],
) -> None:
    answer = await client.get("/health", headers={"Origin": SITE})
    assert answer.status == 200
    assert not [name for name in answer.headers if name.lower().startswith("access-control")]
    preflight = {"Origin": SITE, "Access-Control-Request-Method": "POST"}
    answer = await client.options("/score", headers=preflight)
    assert (answer.status, answer.content_type) == (403, "application/json")
    assert "FRAUD_SCORER_CORS_ORIGINS" in (await answer.json())["error"]
    assert "Access-Control-Allow-Origin" not in answer.headers


async def test_an_allowed_origin_gets_cors_headers_and_its_preflight_answered(
    cors_client: TestClient[web.Request, web.Application],
) -> None:
    preflight = {
        "Origin": SITE,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    answer = await cors_client.options("/score", headers=preflight)
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
    assert "Authorization" in answer.headers["Access-Control-Allow-Headers"]
    assert "Origin" in answer.headers["Vary"]

    answer = await cors_client.post("/score", data=b"{}", headers={"Origin": SITE})
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    answer = await cors_client.get("/nowhere", headers={"Origin": SITE})
    assert answer.status == 404
    assert answer.headers["Access-Control-Allow-Origin"] == SITE, "errors readable by the allowed page too"


@pytest.mark.parametrize(
    ("origin", "method", "path", "status"),
    [
        ("https://evil.example.com", "POST", "/score", 403),
        ("https://console.example.com.evil.example", "POST", "/score", 403),
        ("null", "POST", "/score", 403),
        (SITE, "DELETE", "/score", 403),
        (SITE, "POST", "/nowhere", 404),
    ],
)
async def test_a_preflight_from_another_origin_or_for_another_method_is_refused(
    cors_client: TestClient[web.Request, web.Application], origin: str, method: str, path: str, status: int
) -> None:
    answer = await cors_client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method})
    assert (answer.status, answer.content_type) == (status, "application/json")
    if origin != SITE:
        assert "Access-Control-Allow-Origin" not in answer.headers
        answer = await cors_client.post("/score", data=b"{}", headers={"Origin": origin})
        assert answer.status == 200
        assert "Access-Control-Allow-Origin" not in answer.headers, "the browser hides the answer"
        assert answer.headers["Vary"] == "Origin", "a cache must not serve it to the allowed origin"


async def test_requests_are_counted_by_route_template_method_and_status(
    client: TestClient[web.Request, web.Application], metrics: ScorerMetrics
) -> None:
    await client.post("/score", data=b"{}")
    await client.get("/health")
    for path in ("/a", "/b", "/c/d"):
        await client.get(path)
    await client.request("PROPFIND", "/score")
    await client.options("/health")
    assert _count(metrics, "/score", "POST", "200") == 1
    assert _count(metrics, "/health", "GET", "200") == 1
    assert _count(metrics, "unmatched", "GET", "404") == 3, "one series for every unknown path"
    assert _count(metrics, "/score", "other", "405") == 1, "an invented method makes no series of its own"
    assert _count(metrics, "/health", "OPTIONS", "204") == 1
    count = metrics.registry.get_sample_value(
        "fraudstream_scorer_http_request_seconds_count", {"route": "/score", "method": "POST"}
    )
    assert count == 1


def test_the_cors_setting_takes_origins_only() -> None:
    assert Settings(scorer_cors_origins="").cors_origins == ()
    parsed = Settings(scorer_cors_origins=f" {SITE}, http://localhost:3000 ").cors_origins
    assert parsed == (SITE, "http://localhost:3000")
    assert Settings(scorer_cors_origins="*").cors_origins == ("*",)
    for bad in (f"{SITE}/", "console.example.com", f"{SITE}/app", "https://"):
        with pytest.raises(ValidationError, match="FRAUD_SCORER_CORS_ORIGINS"):
            Settings(scorer_cors_origins=bad)


async def test_head_counts_as_served_only_beside_get(metrics: ScorerMetrics) -> None:
    """Faust registers ``HEAD`` on every view; a POST-only path still advertises only POST."""
    app = web.Application(middlewares=[api_middleware(metrics, CorsPolicy.of((SITE,)))])
    app.router.add_route("HEAD", "/score", _score)
    app.router.add_post("/score", _score)
    app.router.add_get("/health", _health)  # aiohttp adds HEAD beside it
    async with TestClient(TestServer(app)) as client:
        assert (await client.delete("/score")).headers["Allow"] == "POST"
        assert (await client.delete("/health")).headers["Allow"] == "GET, HEAD"
        preflight = {"Origin": SITE, "Access-Control-Request-Method": "POST"}
        assert (await client.options("/score", headers=preflight)).headers["Access-Control-Allow-Methods"] == "POST"
