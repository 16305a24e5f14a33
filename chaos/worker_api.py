"""What a scenario asks a running scorer worker over its HTTP port: the model it serves and its last
refresh (``GET /model``), its counters (``GET /metrics``), a reload (``POST /reload``, with the
worker's API token)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelState", "ReloadAnswer", "counter_values", "model_state", "request_reload"]


@dataclass(frozen=True)
class ModelState:
    """The champion a worker serves and what its last refresh of the alias did."""

    serving: str
    """The version that scores."""
    attempted: str | None
    """The version the alias named at the last refresh (None: it could not be read)."""
    refused: str | None
    """Why the last refresh failed (a ``ModelLoadFailure`` value), None when it did not."""
    message: str = ""


@dataclass(frozen=True)
class ReloadAnswer:
    """The worker's answer to ``POST /reload``."""

    status: int
    refused: str | None


def model_state(port: int) -> ModelState:
    """``GET /model`` of the worker on ``port``, for the champion."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/model", timeout=10) as answer:
        body = json.loads(answer.read())
    last = body["last_refresh"]["champion"]
    error = last["error"] or {}
    return ModelState(body["champion"]["version"], last["version"], error.get("reason"), error.get("message", ""))


def request_reload(port: int, token: str, timeout_s: float) -> ReloadAnswer:
    """``POST /reload`` with the bearer ``token``: the worker checks the registry now (503 when the
    champion's refresh failed)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/reload", data=b"", method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310 - http://127.0.0.1 above
            status, body = answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        status, body = error.code, json.loads(error.read())
    return ReloadAnswer(status, _champion_refusal(body))


def counter_values(port: int, name: str) -> dict[str, float]:
    """The samples of metric ``name`` (e.g. ``fraudstream_scorer_model_load_failures_total``), keyed by
    their labels as written (``reason="bad_signature"``; '' without labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            sample, value = line.rsplit(" ", 1)
            values[sample[len(name) :].strip("{}")] = float(value)
    return values


def _champion_refusal(body: Any) -> str | None:
    for outcome in body.get("refreshes", []):
        if outcome["alias"] == "champion" and outcome["error"]:
            return str(outcome["error"]["reason"])
    return None
