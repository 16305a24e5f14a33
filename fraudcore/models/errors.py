"""Why a model version could not be loaded: one exception, one enum of reasons."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ModelLoadError", "ModelLoadFailure"]


class ModelLoadFailure(StrEnum):
    """The reason a model version was refused; the values are stable metric labels."""

    NOT_FOUND = "not_found"
    """No such registered model, version or alias."""

    STORE_UNAVAILABLE = "store_unavailable"
    """The tracking store, registry or artifact store did not answer."""

    DIGEST_MISMATCH = "digest_mismatch"
    """The artifact's bytes differ from the digest expected by a local ``load_bundle``; a registered
    version whose bytes changed fails its signature instead (``BAD_SIGNATURE``)."""

    INCOMPATIBLE_FEATURES = "incompatible_features"
    """The model expects other feature names, another order, or another feature spec."""

    INVALID_PREDICTIONS = "invalid_predictions"
    """Scores on the reference batch fail, are not finite, or fall outside [0, 1]."""

    UNSIGNED = "unsigned"
    """The version carries no signature: it was not registered by a fraudstream trainer."""

    BAD_SIGNATURE = "bad_signature"
    """The signature does not verify under any of the verification keys for these bytes, this model
    and this run: registered by someone without the signing key, or changed since."""

    LEGACY_FORMAT = "legacy_format"
    """The version is in artifact format 1 (a pickle), which is no longer loaded."""

    CORRUPT_ARTIFACT = "corrupt_artifact"
    """The artifact's files are missing, unreadable or inconsistent although its signature verified."""


class ModelLoadError(Exception):
    """A model version was not loaded; ``reason`` says why, ``message`` says what to do."""

    def __init__(self, reason: ModelLoadFailure, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"
