"""The OpenAPI document: valid OpenAPI 3.1, built from the shipped event contracts, describing every
route the scorer serves and no other; the docs page rendered from it needs nothing from outside."""

from __future__ import annotations

import json
import re
import types
from html.parser import HTMLParser
from typing import Any

import faust
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable

from fraudcore.settings import Settings
from schemas.events import Transaction, Verdict
from schemas.generate import render
from scorer.docs_page import docs_html
from scorer.openapi import openapi_bytes, openapi_document
from scorer.web import register_views

TOKEN = "token-0123456789abcdef-secret"


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)
    swagger_2 = openapi_document()
    swagger_2["paths"]["/score"]["post"]["parameters"][0]["in"] = "body"  # Swagger 2.0's body parameter
    with pytest.raises(OpenAPIValidationError, match="'body' is not one of"):
        validate(swagger_2)
    dangling = openapi_document()
    del dangling["components"]["schemas"]["Problem"]
    with pytest.raises(Unresolvable):
        validate(dangling)


def test_the_event_schemas_are_the_shipped_json_schemas() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for model in (Transaction, Verdict):
        shipped = json.loads(render(model))
        served = schemas[model.__name__]
        assert served["required"] == shipped["required"], model
        for name, spec in shipped["properties"].items():
            served_spec = json.dumps(served["properties"][name], sort_keys=True).replace(
                "#/components/schemas/", "#/$defs/"
            )
            assert served_spec == json.dumps(spec, sort_keys=True), (model, name)
        assert set(served["properties"]) == set(shipped["properties"])


def _served_routes(settings: Settings) -> set[tuple[str, str]]:
    app = faust.App("openapi-test", web_enabled=True, web_router_enabled=False)
    register_views(app, types.SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    web: Any = app.web
    return {
        (route.method.lower(), route.resource.canonical)
        for route in web.web_app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def test_the_document_describes_exactly_the_routes_served() -> None:
    documented = {(method, path) for path, item in openapi_document()["paths"].items() for method in item}
    assert documented == _served_routes(Settings())


def test_the_document_says_which_operations_need_the_token() -> None:
    paths = openapi_document()["paths"]
    assert paths["/reload"]["post"]["security"] == [{"bearerToken": []}]
    assert paths["/score"]["post"]["security"] == [{"bearerToken": []}, {}], "optional: needed for record=true"
    assert "record=true" in paths["/score"]["post"]["description"]
    for path, item in paths.items():
        if "get" in item:
            assert item["get"]["security"] == [], path


def test_the_document_names_no_setting_value() -> None:
    """What an anonymous caller reads in /openapi.json and /docs is the same whatever the worker's
    settings: no token, origin, host or port."""
    settings = Settings(api_token=TOKEN, scorer_cors_origins="https://intranet.example", scorer_web_port=7777)
    _served_routes(settings)
    served = openapi_bytes() + docs_html()
    for secret in (TOKEN, "intranet.example", "7777"):
        assert secret.encode() not in served


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "action") and value is not None:
                self.urls.append(value)
            if name == "id" and value is not None:
                self.ids.add(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_docs_page_is_self_contained_and_shows_every_operation_and_schema() -> None:
    page = _Links()
    page.feed(docs_html().decode())
    assert not page.tags & {"script", "link", "img", "iframe", "form"}
    assert all(url.startswith("#") or url == "/openapi.json" for url in page.urls), page.urls
    assert not re.search(r"url\(|@import|https?://", docs_html().decode().split("<body>")[0])
    document: dict[str, Any] = openapi_document()
    for item in document["paths"].values():
        for operation in item.values():
            assert f"op-{operation['operationId']}" in page.ids
    for name in document["components"]["schemas"]:
        assert f"schema-{name}" in page.ids
    anchors = {url[1:] for url in page.urls if url.startswith("#")}
    assert anchors <= page.ids, anchors - page.ids
    text = "".join(page.text)
    assert "tx-000001" in text, "the example transaction"
    assert "Access: bearer token" in text
    assert "Access: open" in text
