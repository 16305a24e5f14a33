"""The MLflow tracking store and model registry fraudstream uses.

Embedded default: a sqlite file (``<data_dir>/mlflow/mlflow.db``) as tracking and registry backend,
and ``<data_dir>/mlflow/artifacts`` as the experiment's artifact root. With ``MLFLOW_TRACKING_URI``
set, that store or server is used instead and nothing is created locally.

Over HTTP, mlflow retries a failed request with a growing back-off for about four minutes by default.
A process that must not wait that long (the scorer: a refresh holds its model lock, and the event that
follows MLflow's return would queue behind it) calls :func:`fail_fast_over_http` first.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from fraudcore.redaction import redact_urls
from fraudcore.settings import Settings

if TYPE_CHECKING:  # mlflow takes seconds to import: only the functions that use it import it
    from mlflow import MlflowClient

__all__ = [
    "FAIL_FAST_HTTP",
    "check_health",
    "connect",
    "ensure_experiment",
    "fail_fast_over_http",
    "forbid_pickle_loading",
]

FAIL_FAST_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
"""mlflow's own variables, as :func:`fail_fast_over_http` sets them: 2 retries (about 5 s of back-off
in all when the server refuses connections), 20 s per request."""


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow (the module-level API and a client) at the configured store."""
    import mlflow

    if settings.mlflow_is_embedded:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return mlflow.MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def fail_fast_over_http(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Bound mlflow's HTTP retries and request timeout in this process (:data:`FAIL_FAST_HTTP`), except
    the variables already set (the operator's choice wins); returns the values set."""
    chosen = {name: value for name, value in FAIL_FAST_HTTP.items() if name not in environ}
    environ.update(chosen)
    return chosen


def forbid_pickle_loading(environ: MutableMapping[str, str] = os.environ) -> None:
    """Switch off MLflow's pickle fallback in this process (``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``),
    whatever it was: a process that loads models must never unpickle one, even through MLflow."""
    environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"


def ensure_experiment(settings: Settings, client: MlflowClient, name: str | None = None) -> str:
    """The id of experiment ``name`` (default: the settings'), created on first use."""
    experiment_name = name or settings.mlflow_experiment
    existing = client.get_experiment_by_name(experiment_name)
    if existing is not None:
        return str(existing.experiment_id)
    location = settings.artifact_root.as_uri() if settings.mlflow_is_embedded else None
    return str(client.create_experiment(experiment_name, artifact_location=location))


_HTTP_PROBES = (
    ("/health", None),  # unauthenticated on an auth-enabled server: it only says the server is up
    ("/api/2.0/mlflow/experiments/search", {"max_results": 1}),  # needs the credentials a client sends
    ("/api/2.0/mlflow/registered-models/search", {"max_results": 1}),
)


def check_health(settings: Settings, timeout_s: float = 5.0) -> str:
    """Raise if the store does not answer (a server: or refuses this process's credentials); otherwise a
    short description of it."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        shown = redact_urls(uri)
        creds = get_default_host_creds(uri)  # type: ignore[no-untyped-call]
        for endpoint, params in _HTTP_PROBES:
            try:  # MLflow's own request layer: MLFLOW_TRACKING_USERNAME/_PASSWORD/_TOKEN and its TLS variables apply
                answer = http_request(creds, endpoint, "GET", max_retries=0, timeout=timeout_s, params=params)  # type: ignore[no-untyped-call]
            except Exception as exc:  # noqa: BLE001 - MlflowException or a requests error: both mean "no answer"
                reason = redact_urls(str(exc))
                raise ConnectionError(f"MLflow tracking server {shown} does not answer: {reason}") from None
            if answer.status_code in (401, 403):
                raise PermissionError(_refused(shown, answer.status_code, creds.username, creds.token))
            if answer.status_code != 200:
                raise ConnectionError(f"{shown}{endpoint} answered HTTP {answer.status_code}")
        return f"tracking server {shown}"
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
    return f"artifacts in {settings.artifact_root}" if settings.mlflow_is_embedded else "store answers"


def _refused(shown: str, status: int, username: str | None, token: str | None) -> str:
    """Why a server refused this process (never the password or token itself)."""
    if status == 403:
        who = f"user {username!r}" if username else "these credentials"
        return f"MLflow tracking server {shown} answered HTTP 403: {who} may not read experiments or models"
    if username:
        sent = f"refused the credentials of user {username!r} (MLFLOW_TRACKING_USERNAME)"
    elif token:
        sent = "refused the token (MLFLOW_TRACKING_TOKEN)"
    else:
        sent = "requires credentials and none are set"
    return (
        f"MLflow tracking server {shown} answered HTTP 401: it {sent}; "
        "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
    )
