"""The model versions a backtest scores with: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``,
loaded signature-checked, pickle-free and validated through :mod:`fraudcore.models`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fraudcore.features.definition import FeatureSpec
from fraudcore.models import LoadedModel, VerificationKeys, load_alias, load_version

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["BacktestModel", "ModelRef", "load_models"]

_REF: Final = re.compile(
    r"models:/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:@(?P<alias>[A-Za-z0-9][A-Za-z0-9_-]{0,254})|/(?P<version>[0-9]+))"
)


@dataclass(frozen=True)
class ModelRef:
    """A registered model and either an alias or a version number."""

    name: str
    alias: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if (self.alias is None) == (self.version is None):
            raise ValueError("a model reference names either an alias or a version")

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``; ``ValueError`` otherwise."""
        match = _REF.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a model reference like models:/fraud@champion or models:/fraud/7")
        version = match["version"]
        if version is not None and int(version) < 1:
            raise ValueError(f"{text!r}: version numbers start at 1")
        return cls(match["name"], match["alias"], None if version is None else str(int(version)))

    def __str__(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias is not None else f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, eq=False)
class BacktestModel:
    """A requested reference and the version it resolved to, loaded and validated."""

    ref: ModelRef
    loaded: LoadedModel

    @property
    def label(self) -> str:
        """How reports name it: the reference, with the version an alias resolved to."""
        return str(self.ref) if self.ref.alias is None else f"{self.ref} (v{self.loaded.version})"


def load_models(
    client: MlflowClient, refs: Sequence[ModelRef], spec: FeatureSpec, keys: VerificationKeys
) -> list[BacktestModel]:
    """Load every reference in order (signature checked under ``keys`` before anything is read, features
    and spec validated). Raises :class:`~fraudcore.models.ModelLoadError` for the first that fails."""
    models = []
    for ref in refs:
        if ref.alias is not None:
            loaded = load_alias(
                client, ref.name, ref.alias, spec.feature_names, keys=keys, expected_spec_digest=spec.digest
            )
        else:
            assert ref.version is not None
            loaded = load_version(
                client, ref.name, ref.version, spec.feature_names, keys=keys, expected_spec_digest=spec.digest
            )
        models.append(BacktestModel(ref, loaded))
    return models
