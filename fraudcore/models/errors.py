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

    INCOMPATIBLE_FEATURES = "incompatible_features"
    """The model expects other feature names, another order, or another feature spec."""

    INVALID_PREDICTIONS = "invalid_predictions"
    """Scores on the reference batch fail, are not finite, or fall outside [0, 1]."""

    UNSIGNED = "unsigned"
    """The version carries no signature: it was not registered by a fraudstream trainer."""

    BAD_SIGNATURE = "bad_signature"
    """The signature does not verify under any of the verification keys for this model, this run and
    the recorded digest, or the files' digest differs from the signed one: registered by someone
    without the signing key, or changed since."""

    TOO_LARGE = "too_large"
    """The signed run's artifact holds more files or bytes than a fraudstream model ever does; it is
    refused from its listing before anything is downloaded, or while it is read."""

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
