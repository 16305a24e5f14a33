"""Registered versions a scorer must refuse: one whose artifact was damaged after registration, and one
trained on another feature list (registered with it, as the trainer would)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from bench.config import BenchConfig
from bench.models import register
from bench.workload import Workload
from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.model_kind import ModelKind
from fraudcore.models import ModelBundle, reference_sample
from fraudcore.models.artifact import ESTIMATOR_FILE
from fraudcore.settings import Settings
from trainer.fitting import fit_bundle, new_estimator

__all__ = ["BadVersions", "register_bad_versions"]

_TRAINING_ROWS = 2_000


@dataclass(frozen=True)
class BadVersions:
    """The versions registered to be refused."""

    corrupt: str
    """Its estimator's bytes were changed after registration: the signature check refuses it."""
    incompatible: str
    """Trained on another feature list: validation refuses it."""


def register_bad_versions(settings: Settings, artifacts: Path, seed: int) -> BadVersions:
    """Register both (not promoted); ``artifacts`` is the folder behind the server's ``mlflow-artifacts:``."""
    backlog = Workload(BenchConfig(seed=seed)).backlog(_TRAINING_ROWS)
    corrupt = register(settings, fit_bundle(backlog.matrix, backlog.is_fraud, seed=seed), champion=False)
    _flip_a_byte(settings, artifacts, corrupt)
    matrix = backlog.matrix[:, :-1]  # without the last feature of the scorer's list
    estimator = new_estimator(ModelKind.BOOSTING, seed).fit(matrix, backlog.is_fraud.astype(np.int64))
    bundle = ModelBundle(estimator, DEFAULT_SPEC.feature_names[:-1], DEFAULT_SPEC.digest, reference_sample(matrix))
    return BadVersions(corrupt, register(settings, bundle, champion=False))


def _flip_a_byte(settings: Settings, artifacts: Path, version: str) -> None:
    """Damage the estimator file of ``version`` in the artifact store, as a disk or a hand could."""
    from fraudcore.mlflow_store import connect

    source = connect(settings).get_model_version(settings.model_name, version).source
    estimator = artifacts / urlparse(str(source)).path.lstrip("/") / ESTIMATOR_FILE
    data = bytearray(estimator.read_bytes())
    data[len(data) // 2] ^= 0xFF
    estimator.write_bytes(bytes(data))
