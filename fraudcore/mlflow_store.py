"""The MLflow tracking store and model registry fraudstream uses.

Embedded default: a sqlite file (``<data_dir>/mlflow/mlflow.db``) as tracking and registry backend,
and ``<data_dir>/mlflow/artifacts`` as the experiment's artifact root. With ``MLFLOW_TRACKING_URI``
set, that store or server is used instead and nothing is created locally.

Over HTTP, mlflow retries a failed request with a growing back-off for about four minutes by default.
A process that must not wait that long (the scorer: a refresh holds its model lock, and the event that
follows MLflow's return would queue behind it) calls :func:`fail_fast_over_http` first. A command
calls :func:`require_store` before it uses the store: one probe bounded by ``FRAUD_SERVICE_WAIT_S``,
and a sqlite file that does not exist is refused instead of being created empty.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fraudcore.local.errors import InfraError
from fraudcore.redaction import redact_urls
from fraudcore.settings import Settings

if TYPE_CHECKING:  # mlflow takes seconds to import: only the functions that use it import it
    from mlflow import MlflowClient

__all__ = [
    "FAIL_FAST_HTTP",
    "StoreUnavailable",
    "check_health",
    "connect",
    "ensure_experiment",
    "fail_fast_over_http",
    "forbid_pickle_loading",
    "missing_store",
    "require_store",
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


class StoreUnavailable(InfraError):
    """The MLflow store does not answer within the bound, or the sqlite file it names does not exist."""


def fail_fast_over_http(
    environ: MutableMapping[str, str] = os.environ, request_timeout_s: float | None = None
) -> dict[str, str]:
    """Bound mlflow's HTTP retries and request timeout in this process (:data:`FAIL_FAST_HTTP`, or
    ``request_timeout_s`` per request), except the variables already set (the operator's choice wins);
    returns the values set."""
    bounds = dict(FAIL_FAST_HTTP)
    if request_timeout_s is not None:
        bounds["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(request_timeout_s)))
    chosen = {name: value for name, value in bounds.items() if name not in environ}
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


def missing_store(settings: Settings) -> str | None:
    """Why the store cannot be opened without creating it (a sqlite file that does not exist), or ``None``.

    MLflow creates a missing sqlite file, empty, on first use: a mistyped ``MLFLOW_TRACKING_URI`` would
    look like a store without models."""
    path = _sqlite_path(settings.tracking_uri)
    if path is None or path.exists():
        return None
    if settings.mlflow_is_embedded:
        return f"the local MLflow store {path} does not exist yet: `fraudstream up` (or `fraudstream train`) creates it"
    return (
        f"MLFLOW_TRACKING_URI names a sqlite store that does not exist ({path}); MLflow would create an "
        "empty one there: check MLFLOW_TRACKING_URI"
    )


def _sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (``None`` for another scheme or an in-memory database)."""
    if not uri.startswith("sqlite:///"):
        return None
    name = urlsplit(uri).path.removeprefix("/")  # sqlite:///relative.db, sqlite:////absolute.db
    return Path(name) if name and name != ":memory:" else None


def require_store(settings: Settings, *, must_exist: bool = True) -> None:
    """Raise :class:`StoreUnavailable`, with a message naming the variable to check, unless the store
    answers within ``settings.service_wait_s`` (and, with ``must_exist``, its sqlite file exists).

    Then bounds mlflow's own HTTP retries and timeouts for the rest of the process
    (:func:`fail_fast_over_http`), so that a store lost later fails a request in seconds too."""
    if must_exist and (problem := missing_store(settings)) is not None:
        raise StoreUnavailable(problem)
    wait_s = settings.service_wait_s
    try:
        if settings.tracking_uri.startswith(("http://", "https://")):
            _probe_server(settings.tracking_uri, wait_s)
    except PermissionError as exc:
        raise StoreUnavailable(str(exc)) from None
    except ConnectionError as exc:
        raise StoreUnavailable(
            f"{exc} (waited at most {wait_s:g} s, FRAUD_SERVICE_WAIT_S): check MLFLOW_TRACKING_URI "
            "or start the tracking server"
        ) from None
    fail_fast_over_http(request_timeout_s=wait_s)


def _probe_server(uri: str, timeout_s: float) -> None:
    """Raise :class:`ConnectionError` (:class:`PermissionError` on refused credentials) unless the
    tracking server at ``uri`` answers the probes, each within ``timeout_s``."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    shown = redact_urls(uri)
    creds = get_default_host_creds(uri)  # type: ignore[no-untyped-call]
    for endpoint, params in _HTTP_PROBES:
        try:  # MLflow's own request layer: MLFLOW_TRACKING_USERNAME/_PASSWORD/_TOKEN and its TLS variables apply
            answer = http_request(creds, endpoint, "GET", max_retries=0, timeout=timeout_s, params=params)  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - MlflowException or a requests error: both mean "no answer"
            raise ConnectionError(f"MLflow tracking server {shown} does not answer: {_reason(exc)}") from None
        if answer.status_code in (401, 403):
            raise PermissionError(_refused(shown, answer.status_code, creds.username, creds.token))
        if answer.status_code != 200:
            raise ConnectionError(f"MLflow tracking server {shown}{endpoint} answered HTTP {answer.status_code}")


def _reason(error: Exception) -> str:
    """The gist of a failed request (refused, timed out, or mlflow's own words without credentials)."""
    text = redact_urls(str(error))
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "no answer in time"
    return text


def check_health(settings: Settings, timeout_s: float = 5.0) -> str:
    """Raise if the store does not answer (a server: or refuses this process's credentials) or its sqlite
    file does not exist (never creates it); otherwise a short description of it and of the model it holds
    (a warning when it holds no champion of ``settings.model_name``)."""
    if (problem := missing_store(settings)) is not None:
        raise FileNotFoundError(problem)
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        _probe_server(uri, timeout_s)
        return f"tracking server {redact_urls(uri)}; {_contents(settings)}"
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments(max_results=1)
    where = f"artifacts in {settings.artifact_root}" if settings.mlflow_is_embedded else "store answers"
    return f"{where}; {_contents(settings)}"


def _contents(settings: Settings) -> str:
    """Which version of the model is champion, or a warning that there is none."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    name = settings.model_name
    found = client.search_registered_models(filter_string=f"name = '{name}'", max_results=1)
    if not found:
        return f"WARNING: no model {name!r} registered (a new, empty store?); `fraudstream train` registers one"
    from fraudcore.models.registry import CHAMPION

    champion = found[0].aliases.get(CHAMPION)
    if champion is None:
        return f"WARNING: model {name!r} has no champion version"
    return f"model {name!r} champion: version {champion}"


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
