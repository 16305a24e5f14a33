"""Where the scorer's models come from: the MLflow registry, behind a two-method interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from fraudcore.models import (
    LoadedModel,
    ModelLoadError,
    ModelLoadFailure,
    VerificationKeys,
    load_version,
    resolve_alias,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["ModelSource", "RegistrySource"]


class ModelSource(Protocol):
    """Resolves aliases and loads validated versions of one model (blocking calls)."""

    model_name: str

    def resolve(self, alias: str) -> str | None:
        """The version ``alias`` names now, or None; :class:`ModelLoadError` if unreachable."""

    def load(self, version: str) -> LoadedModel:
        """The validated model of ``version``; :class:`ModelLoadError` says why not."""


class RegistrySource:
    """A :class:`ModelSource` on the MLflow model registry (signature-checked, pickle-free, validated loads)."""

    def __init__(
        self,
        client_factory: Callable[[], MlflowClient],
        model_name: str,
        expected_features: Sequence[str],
        *,
        keys: VerificationKeys,
        expected_spec_digest: str | None = None,
    ) -> None:
        self.model_name = model_name
        self.expected_features = tuple(expected_features)
        self.expected_spec_digest = expected_spec_digest
        self.keys = keys
        self._client_factory = client_factory
        self._client: MlflowClient | None = None

    def _connected(self) -> MlflowClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def resolve(self, alias: str) -> str | None:
        """The version ``alias`` names now (None when the model or alias does not exist)."""
        try:
            return resolve_alias(self._connected(), self.model_name, alias)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(ModelLoadFailure.STORE_UNAVAILABLE, f"model registry unreachable: {exc}") from exc

    def load(self, version: str) -> LoadedModel:
        """Download, signature-check, parse (no pickle) and validate ``version``."""
        return load_version(
            self._connected(),
            self.model_name,
            version,
            self.expected_features,
            keys=self.keys,
            expected_spec_digest=self.expected_spec_digest,
        )
