"""The benchmark's models: the real one (the trainer's estimator fitted on the benchmark's stream), a
trivial one (for framework efficiency), and their registration under each variant's own model name."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.dummy import DummyClassifier

from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.model_kind import ModelKind
from fraudcore.models import ModelBundle, promote, publish, reference_sample, signing_key
from fraudcore.settings import Settings
from trainer.fitting import fit_bundle

__all__ = ["delete_models", "real_bundle", "register", "trivial_bundle"]

_TAGS = {"purpose": "fraudstream bench"}


def real_bundle(
    matrix: npt.NDArray[np.float64], is_fraud: npt.NDArray[np.bool_], kind: ModelKind, seed: int
) -> ModelBundle:
    """The estimator the trainer fits (its default hyperparameters), on the given rows."""
    return fit_bundle(matrix, is_fraud, kind=kind, seed=seed)


def trivial_bundle(matrix: npt.NDArray[np.float64], is_fraud: npt.NDArray[np.bool_]) -> ModelBundle:
    """A model that costs next to nothing: the fraud prior for every row (no reasons)."""
    estimator = DummyClassifier(strategy="prior").fit(matrix, is_fraud.astype(np.int64))
    return ModelBundle(estimator, DEFAULT_SPEC.feature_names, DEFAULT_SPEC.digest, reference_sample(matrix))


def register(settings: Settings, bundle: ModelBundle, *, champion: bool) -> str:
    """Publish ``bundle`` as a new version of ``settings.model_name``; make it champion if asked."""
    from fraudcore.mlflow_store import connect

    client = connect(settings)
    version = publish(
        client,
        settings,
        bundle,
        settings.model_name,
        tags=_TAGS,
        description="fraudstream bench",
        signing_key=signing_key(settings),
    )
    if champion:
        promote(client, settings.model_name, version)
    return version


def delete_models(settings: Settings, names: list[str]) -> None:
    """Delete the registered models and the runs that logged their versions."""
    from fraudcore.mlflow_store import connect

    client = connect(settings)
    for name in names:
        if not client.search_registered_models(f"name = '{name}'"):
            continue
        runs = {version.run_id for version in client.search_model_versions(f"name = '{name}'") if version.run_id}
        client.delete_registered_model(name)
        for run_id in runs:
            client.delete_run(run_id)
