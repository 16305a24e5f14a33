"""In-memory twins for the scorer's unit tests: a model source and fitted models."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from fraudcore.features.definition import DEFAULT_SPEC, FEATURE_NAMES
from fraudcore.models import LoadedModel, ModelLoadError, validate_bundle
from trainer.fitting import fit_bundle


def loaded_model(version: str, seed: int = 0, name: str = "fraud") -> LoadedModel:
    """A validated logistic model on synthetic features where large amounts are fraud."""
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(0, 1, size=(400, len(FEATURE_NAMES)))
    matrix[:, 0] = rng.uniform(0, 300, size=400)
    bundle = fit_bundle(matrix, matrix[:, 0] > 220, seed=seed)
    validation = validate_bundle(bundle, FEATURE_NAMES, expected_spec_digest=DEFAULT_SPEC.digest)
    return LoadedModel(name, version, bundle, f"digest{version}", datetime.now(UTC), validation)


class MemorySource:
    """A model source whose aliases and versions the test sets; counts the loads."""

    def __init__(self, model_name: str = "fraud") -> None:
        self.model_name = model_name
        self.aliases: dict[str, str] = {}
        self.versions: dict[str, LoadedModel | ModelLoadError] = {}
        self.loads = 0
        self.unreachable: ModelLoadError | None = None

    def resolve(self, alias: str) -> str | None:
        if self.unreachable is not None:
            raise self.unreachable
        return self.aliases.get(alias)

    def load(self, version: str) -> LoadedModel:
        self.loads += 1
        model = self.versions[version]
        if isinstance(model, ModelLoadError):
            raise model
        return model
