"""The MLflow tracking store and model registry fraudstream uses.

Embedded default: a sqlite file (``<data_dir>/mlflow/mlflow.db``) as tracking and registry backend,
and ``<data_dir>/mlflow/artifacts`` as the experiment's artifact root. With ``MLFLOW_TRACKING_URI``
set, that store or server is used instead and nothing is created locally.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from fraudcore.settings import Settings

if TYPE_CHECKING:  # mlflow takes seconds to import: only the functions that use it import it
    from mlflow import MlflowClient

__all__ = ["check_health", "connect", "ensure_experiment"]


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow (the module-level API and a client) at the configured store."""
    import mlflow

    if settings.mlflow_is_embedded:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
        settings.artifact_root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return mlflow.MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def ensure_experiment(settings: Settings, client: MlflowClient, name: str | None = None) -> str:
    """The id of experiment ``name`` (default: the settings'), created on first use."""
    experiment_name = name or settings.mlflow_experiment
    existing = client.get_experiment_by_name(experiment_name)
    if existing is not None:
        return str(existing.experiment_id)
    location = settings.artifact_root.as_uri() if settings.mlflow_is_embedded else None
    return str(client.create_experiment(experiment_name, artifact_location=location))


def check_health(settings: Settings, timeout_s: float = 5.0) -> str:
    """Raise if the store does not answer; otherwise a short description of it."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as answer:  # noqa: S310
                if answer.status != 200:
                    raise ConnectionError(f"{uri}/health answered HTTP {answer.status}")
        except urllib.error.URLError as exc:
            raise ConnectionError(f"MLflow tracking server {uri} does not answer: {exc.reason}") from exc
        return f"tracking server {uri}"
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
    return f"artifacts in {settings.artifact_root}" if settings.mlflow_is_embedded else "store answers"
