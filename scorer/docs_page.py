"""The ``/docs`` page: the OpenAPI document (:mod:`scorer.openapi`) as one self-contained HTML page.

No script, stylesheet, font or image from anywhere: it works offline and behind any firewall, and
offers no "try it out" (so it cannot be used to send requests with someone's token). Each
operation with its parameters, request body, answers and whether it needs the bearer token, then
every schema with its fields.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from typing import Any

from scorer.openapi import openapi_document

__all__ = ["docs_html"]

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
    "code,pre{font:13px ui-monospace,monospace;background:#f4f4f4}pre{padding:.6em;overflow-x:auto}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:left;vertical-align:top}h3{margin-top:2em}.method{font-weight:bold;text-transform:uppercase}"
)


def _text(value: Any) -> str:
    return escape(str(value))


def _type(schema: dict[str, Any]) -> str:
    """A short name of a schema's type: a referenced schema by name, unions by their parts."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_text(name)}">{_text(name)}</a>'
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return " | ".join(_type(part) for part in schema[union])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "const" in schema:
        return f"<code>{_text(schema['const'])}</code>"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{_text(value)}</code>" for value in schema["enum"])
    return _text(schema.get("type", "any"))


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    needs = "optional bearer token" if {} in operation["security"] else "bearer token"
    auth = "open" if not operation["security"] else needs
    parts = [
        f'<h3 id="op-{_text(operation["operationId"])}"><span class="method">{_text(method)}</span>'
        f" <code>{_text(path)}</code> &mdash; {_text(operation['summary'])}</h3>",
        f"<p>{_text(operation['description'])}</p><p>Access: <b>{auth}</b></p>",
    ]
    if operation.get("parameters"):
        rows = "".join(
            f"<tr><td><code>{_text(p['name'])}</code></td><td>{_text(p['in'])}</td><td>{_text(p['description'])}</td></tr>"
            for p in operation["parameters"]
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th>meaning</th></tr>{rows}</table>")
    body = operation.get("requestBody")
    if body:
        media = body["content"]["application/json"]
        parts.append(f"<p>Body (<code>application/json</code>): {_type(media['schema'])}</p>")
        if "example" in media:
            parts.append(f"<pre>{_text(json.dumps(media['example'], indent=2))}</pre>")
    rows = "".join(
        f"<tr><td>{_text(status)}</td><td>{_text(answer['description'])}</td><td>"
        + ", ".join(f"<code>{_text(kind)}</code> {_type(m['schema'])}" for kind, m in answer.get("content", {}).items())
        + "</td></tr>"
        for status, answer in sorted(operation["responses"].items())
    )
    parts.append(f"<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{rows}</table>")
    return "\n".join(parts)


def _schema(name: str, schema: dict[str, Any]) -> str:
    parts = [f'<h3 id="schema-{_text(name)}">{_text(name)}</h3>', f"<p>{_text(schema.get('description', ''))}</p>"]
    properties: dict[str, Any] = schema.get("properties", {})
    if properties:
        required = set(schema.get("required", []))
        rows = "".join(
            f"<tr><td><code>{_text(field)}</code></td><td>{_type(spec)}</td>"
            f"<td>{'yes' if field in required else 'no'}</td><td>{_text(spec.get('description', ''))}</td></tr>"
            for field, spec in properties.items()
        )
        parts.append(f"<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>{rows}</table>")
    elif "enum" in schema:
        parts.append(f"<p>{_type(schema)}</p>")
    return "\n".join(parts)


@cache
def docs_html() -> bytes:
    """The page (built once)."""
    document = openapi_document()
    info = document["info"]
    operations = [
        _operation(path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    schemas = [_schema(name, schema) for name, schema in sorted(document["components"]["schemas"].items())]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_text(info['title'])} API</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_text(info['title'])} API</h1><p>{_text(info['description'])}</p>"
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI '
        f"{_text(document['openapi'])}).</p><h2>Operations</h2>"
        + "\n".join(operations)
        + "<h2>Schemas</h2>"
        + "\n".join(schemas)
        + "</body></html>\n"
    )
    return page.encode()
