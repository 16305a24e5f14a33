"""Model artifacts and the MLflow model registry: bundle, pickle-free signed artifact, publish and load.

Importing this package does not import mlflow; the registry functions import it when called.
"""

from fraudcore.models.artifact import TRUSTED_TYPES, artifact_digest, save_bundle
from fraudcore.models.bundle import REFERENCE_ROWS, ModelBundle, reference_sample
from fraudcore.models.errors import ModelLoadError, ModelLoadFailure
from fraudcore.models.keys import ModelKeyError, signing_key, verification_keys
from fraudcore.models.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    LoadedModel,
    ModelVersionInfo,
    list_versions,
    load_alias,
    load_version,
    promote,
    publish,
    resolve_alias,
    set_alias,
)
from fraudcore.models.signing import VerificationKeys
from fraudcore.models.validation import Validation, validate_bundle

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "REFERENCE_ROWS",
    "TRUSTED_TYPES",
    "LoadedModel",
    "ModelBundle",
    "ModelKeyError",
    "ModelLoadError",
    "ModelLoadFailure",
    "ModelVersionInfo",
    "Validation",
    "VerificationKeys",
    "artifact_digest",
    "list_versions",
    "load_alias",
    "load_version",
    "promote",
    "publish",
    "reference_sample",
    "resolve_alias",
    "save_bundle",
    "set_alias",
    "signing_key",
    "validate_bundle",
    "verification_keys",
]
