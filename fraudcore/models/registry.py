"""fraudstream models in the MLflow model registry: publish, alias, list, load and validate.

A version is published as a run whose artifact folder ``model`` is an MLflow sklearn-flavour model in
skops format plus fraudstream's files (see :mod:`fraudcore.models.artifact`). The trainer signs the
folder's digest, the model name and the run id with its Ed25519 private key (see
:mod:`fraudcore.models.signing`); the signature is the version's :data:`TAG_SIGNATURE` tag. Loading
trusts nothing the store says. It first checks the signature of the recorded digest
(:data:`TAG_ARTIFACT_DIGEST`), the model name and the version's run id under the verification keys,
so nothing is fetched for a version the keys do not vouch for (``UNSIGNED``, ``BAD_SIGNATURE``). It
then lists the folder ``model`` of that run, refuses more files or bytes than a model holds
(``TOO_LARGE``), downloads the listed files, reads them within the same limits, checks that their
digest is the signed one (``BAD_SIGNATURE`` otherwise), and only then parses the same bytes, without
pickle. The version's ``source`` is never used: registry metadata anyone who can write to MLflow sets,
it could name any URL, bucket or path. A version whose ``source`` differs from its run's artifact
folder is loaded from its run's folder. Promotion uses registry aliases (``champion``, ``previous``),
never stages.

Every function takes an explicit ``MlflowClient`` (from :func:`fraudcore.mlflow_store.connect`) and
imports mlflow lazily. Reads (``resolve_alias``, ``list_versions``, ``load_*``) raise only
:class:`ModelLoadError`; writes (``publish``, ``set_alias``, ``promote``) let mlflow's errors through.
Over HTTP, mlflow retries a failed request with backoff for minutes by default; the standard
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and ``MLFLOW_HTTP_REQUEST_TIMEOUT`` bound that.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeVar

from fraudcore.mlflow_store import ensure_experiment
from fraudcore.models.artifact import (
    FORMAT,
    check_artifact_size,
    legacy_format_message,
    parse_bundle,
    read_artifact,
    save_bundle,
    tree_digest,
)
from fraudcore.models.bundle import ModelBundle
from fraudcore.models.errors import ModelLoadError, ModelLoadFailure
from fraudcore.models.signing import VerificationKeys, key_id, sign, signed_payload
from fraudcore.models.validation import Validation, validate_bundle
from fraudcore.redaction import redact_urls
from fraudcore.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

__all__ = [
    "ARTIFACT_PATH",
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "TAG_ARTIFACT_DIGEST",
    "TAG_ARTIFACT_FORMAT",
    "TAG_FEATURE_NAMES",
    "TAG_FEATURE_SPEC_DIGEST",
    "TAG_SIGNATURE",
    "TAG_SIGNING_KEY",
    "LoadedModel",
    "ModelVersionInfo",
    "list_versions",
    "load_alias",
    "load_version",
    "promote",
    "publish",
    "resolve_alias",
    "set_alias",
]

CHAMPION = "champion"
PREVIOUS = "previous"
CHALLENGER = "challenger"
ARTIFACT_PATH = "model"
TAG_PREFIX = "fraudstream."
TAG_ARTIFACT_DIGEST = f"{TAG_PREFIX}artifact_digest"
TAG_ARTIFACT_FORMAT = f"{TAG_PREFIX}artifact_format"
TAG_FEATURE_NAMES = f"{TAG_PREFIX}feature_names"
TAG_FEATURE_SPEC_DIGEST = f"{TAG_PREFIX}feature_spec_digest"
TAG_SIGNATURE = f"{TAG_PREFIX}signature"
"""The base64 Ed25519 signature of the version's :func:`~fraudcore.models.signing.signed_payload`."""
TAG_SIGNING_KEY = f"{TAG_PREFIX}signing_key"
"""The fingerprint of the key that signed (for people; loading tries every verification key)."""

HOW_TO_CREATE = (
    "The trainer registers versions and promotes a champion (`fraudstream train`), and `fraudstream demo` "
    "registers one on the embedded store; `fraudstream model list` shows what exists."
)

_NOT_FOUND_CODE = "RESOURCE_DOES_NOT_EXIST"
_ALREADY_EXISTS_CODE = "RESOURCE_ALREADY_EXISTS"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ModelVersionInfo:
    """One registered version, as ``fraudstream model list`` shows it."""

    name: str
    version: str
    aliases: tuple[str, ...]
    metrics: Mapping[str, float]
    created_at: datetime
    run_id: str | None
    recorded_digest: str | None
    """The artifact digest the version's tag records, as the store gives it: not verified (loading
    verifies it against the signature and the files)."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A validated model version, ready to score."""

    name: str
    version: str
    bundle: ModelBundle
    artifact_digest: str
    loaded_at: datetime
    validation: Validation


def publish(
    client: MlflowClient,
    experiment: Settings | str,
    bundle: ModelBundle,
    name: str,
    *,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    signing_key: Ed25519PrivateKey,
) -> str:
    """Log ``bundle`` in a run of ``experiment`` and register it as a new version of ``name``, signed
    with ``signing_key``.

    ``experiment`` is the settings (their experiment, created on first use) or an experiment id.
    ``tags`` go on the run and the version; keys starting with ``fraudstream.`` are reserved.
    Returns the new version number. No alias moves: see :func:`promote`.
    """
    from mlflow.entities import Metric, Param

    user_tags = dict(tags or {})
    reserved = sorted(key for key in user_tags if key.startswith(TAG_PREFIX))
    if reserved:
        raise ValueError(f"tag keys starting with {TAG_PREFIX!r} are reserved: {reserved}")
    experiment_id = ensure_experiment(experiment, client) if isinstance(experiment, Settings) else experiment
    _ensure_registered_model(client, name)
    run = client.create_run(experiment_id, tags={**user_tags, TAG_FEATURE_SPEC_DIGEST: bundle.feature_spec_digest})
    run_id = run.info.run_id
    try:
        now = _now_ms()
        client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), now, 0) for key, value in (metrics or {}).items()],
            params=[Param(key, str(value)) for key, value in (params or {}).items()],
        )
        with tempfile.TemporaryDirectory(prefix="fraudstream-publish-") as scratch:
            directory = Path(scratch) / ARTIFACT_PATH
            digest = save_bundle(bundle, directory)
            client.log_artifacts(run_id, str(directory), ARTIFACT_PATH)
        client.set_tag(run_id, TAG_ARTIFACT_DIGEST, digest)
    except BaseException:
        with contextlib.suppress(Exception):  # the original failure is the one to report
            client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    payload = signed_payload(model_name=name, run_id=run_id, artifact_digest=digest, artifact_format=FORMAT)
    version = client.create_model_version(
        name,
        source=f"{run.info.artifact_uri.rstrip('/')}/{ARTIFACT_PATH}",
        run_id=run_id,
        tags={
            **user_tags,
            TAG_ARTIFACT_DIGEST: digest,
            TAG_ARTIFACT_FORMAT: str(FORMAT),
            TAG_FEATURE_NAMES: json.dumps(list(bundle.feature_names)),
            TAG_FEATURE_SPEC_DIGEST: bundle.feature_spec_digest,
            TAG_SIGNATURE: sign(signing_key, payload),
            TAG_SIGNING_KEY: key_id(signing_key),
        },
        description=description,
    )
    return str(version.version)


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``alias`` of model ``name`` at ``version``."""
    client.set_registered_model_alias(name, alias, str(version))


def promote(
    client: MlflowClient, name: str, version: str, *, alias: str = CHAMPION, previous_alias: str = PREVIOUS
) -> str | None:
    """Point ``alias`` at ``version`` and ``previous_alias`` at the version it displaces.

    Returns the displaced version (None if ``alias`` was unset or already named ``version``). Rolling
    back is promoting the ``previous`` version.
    """
    displaced = resolve_alias(client, name, alias)
    if displaced == str(version):
        return None
    if displaced is not None:
        set_alias(client, name, previous_alias, displaced)
    set_alias(client, name, alias, version)
    return displaced


def resolve_alias(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version ``alias`` of model ``name`` points at; None if the model or the alias does not exist."""
    model = _registered_model(client, name)
    if model is None:
        return None
    version = model.aliases.get(alias)
    return None if version is None else str(version)


def list_versions(client: MlflowClient, name: str) -> list[ModelVersionInfo]:
    """Every version of model ``name``, newest first, with its aliases and its run's metrics."""
    model = _registered_model(client, name)
    if model is None:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in sorted(model.aliases.items()):
        aliases.setdefault(str(version), []).append(alias)
    search = _name_filter(name)
    versions = _read_store(f"versions of model {name!r}", lambda: client.search_model_versions(search))
    infos = [
        ModelVersionInfo(
            name=name,
            version=str(version.version),
            aliases=tuple(aliases.get(str(version.version), ())),
            metrics=_run_metrics(client, version.run_id),
            created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
            run_id=version.run_id or None,
            recorded_digest=(version.tags or {}).get(TAG_ARTIFACT_DIGEST),
        )
        for version in versions
    ]
    return sorted(infos, key=lambda info: int(info.version), reverse=True)


def load_alias(
    client: MlflowClient,
    name: str,
    alias: str,
    expected_features: Sequence[str],
    *,
    keys: VerificationKeys,
    expected_spec_digest: str | None = None,
) -> LoadedModel:
    """Load and validate the version ``alias`` of model ``name`` points at (see :func:`load_version`)."""
    model = _registered_model(client, name)
    if model is None:
        raise ModelLoadError(ModelLoadFailure.NOT_FOUND, f"no registered model named {name!r}. {HOW_TO_CREATE}")
    version = model.aliases.get(alias)
    if version is None:
        raise ModelLoadError(
            ModelLoadFailure.NOT_FOUND,
            f"model {name!r} has no alias {alias!r} (aliases: {sorted(model.aliases) or 'none'}). {HOW_TO_CREATE}",
        )
    return load_version(
        client, name, str(version), expected_features, keys=keys, expected_spec_digest=expected_spec_digest
    )


def load_version(
    client: MlflowClient,
    name: str,
    version: str,
    expected_features: Sequence[str],
    *,
    keys: VerificationKeys,
    expected_spec_digest: str | None = None,
) -> LoadedModel:
    """Check the signature of version ``version`` of model ``name`` under ``keys``, download the files
    of the run it binds (never the version's ``source``), check their digest is the signed one, then
    parse (without pickle) and validate them.

    Synchronous and slow (seconds on a cold process): run it off the event loop. Raises only
    :class:`ModelLoadError`; nothing is fetched before the signature verifies, and nothing in the
    files is parsed before their digest matches it.
    """
    model_version = _model_version(client, name, version)
    tags = model_version.tags or {}
    signature = tags.get(TAG_SIGNATURE)
    if not signature:
        if tags.get(TAG_ARTIFACT_FORMAT) == "1":
            raise ModelLoadError(
                ModelLoadFailure.LEGACY_FORMAT, f"version {version} of model {name!r}: " + legacy_format_message()
            )
        raise ModelLoadError(
            ModelLoadFailure.UNSIGNED,
            f"version {version} of model {name!r} has no {TAG_SIGNATURE} tag: it was not registered by a "
            "fraudstream trainer holding the signing key, so it is not loaded",
        )
    run_id = model_version.run_id or ""
    signed_digest = tags.get(TAG_ARTIFACT_DIGEST, "")
    payload = signed_payload(model_name=name, run_id=run_id, artifact_digest=signed_digest, artifact_format=FORMAT)
    if not keys.verify(payload, signature):
        raise ModelLoadError(
            ModelLoadFailure.BAD_SIGNATURE,
            f"version {version} of model {name!r} (run {run_id or 'none'}, recorded digest "
            f"{signed_digest[:16] or 'none'}…) is not signed by any of the verification keys "
            f"({', '.join(keys.ids)}): it was registered without the signing key, or its digest, model name "
            "or run were changed since; nothing in it was read, nor even fetched",
        )
    files = _fetch(client, model_version, run_id)
    digest = tree_digest(files)
    if not hmac.compare_digest(digest.encode(), signed_digest.encode()):
        raise ModelLoadError(
            ModelLoadFailure.BAD_SIGNATURE,
            f"the files of version {version} of model {name!r} (run {run_id}, digest {digest[:16]}…) differ "
            f"from the signed digest {signed_digest[:16]}…: the artifact was changed since it was signed; "
            "nothing in it was read",
        )
    bundle = parse_bundle(files)
    validation = validate_bundle(bundle, expected_features, expected_spec_digest=expected_spec_digest)
    return LoadedModel(
        name=name,
        version=str(model_version.version),
        bundle=bundle,
        artifact_digest=digest,
        loaded_at=datetime.now(UTC),
        validation=validation,
    )


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != _ALREADY_EXISTS_CODE:
            raise


def _registered_model(client: MlflowClient, name: str) -> RegisteredModel | None:
    """The registered model ``name``; None if there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != _NOT_FOUND_CODE:
            raise _unavailable(f"model {name!r}", exc) from exc
        return None
    except Exception as exc:  # any other failure to read the registry: it is unavailable
        raise _unavailable(f"model {name!r}", exc) from exc


def _model_version(client: MlflowClient, name: str, version: str) -> ModelVersion:
    from mlflow.exceptions import MlflowException

    text = str(version)
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ModelLoadError(ModelLoadFailure.NOT_FOUND, f"{text!r} is not a version number (1, 2, …). {HOW_TO_CREATE}")
    try:
        model_version = client.get_model_version(name, text)
    except MlflowException as exc:
        if exc.error_code != _NOT_FOUND_CODE:
            raise _unavailable(f"version {text} of model {name!r}", exc) from exc
        raise ModelLoadError(
            ModelLoadFailure.NOT_FOUND, f"model {name!r} has no version {text}. {HOW_TO_CREATE}"
        ) from exc
    except Exception as exc:  # as in _registered_model
        raise _unavailable(f"version {text} of model {name!r}", exc) from exc
    status = str(model_version.status)
    if status != "READY":
        raise ModelLoadError(
            ModelLoadFailure.NOT_FOUND, f"version {text} of model {name!r} is {status}, not READY. {HOW_TO_CREATE}"
        )
    return model_version


def _fetch(client: MlflowClient, model_version: ModelVersion, run_id: str) -> dict[str, bytes]:
    """The files of the folder ``model`` of run ``run_id`` (at the run's own artifact location), by
    path under it: listed first (refused over the size limits before anything is downloaded), then
    downloaded one by one and read within the same limits (a listing's sizes may lie)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    run = _artifact_call(model_version, run_id, functools.partial(client.get_run, run_id))
    repository = _artifact_call(
        model_version,
        run_id,
        functools.partial(get_artifact_repository, run.info.artifact_uri, tracking_uri=client.tracking_uri),
    )
    listed = _listed_files(repository, model_version, run_id)
    try:
        with tempfile.TemporaryDirectory(prefix="fraudstream-model-", ignore_cleanup_errors=True) as scratch:
            for path in listed:
                _artifact_call(model_version, run_id, functools.partial(repository.download_artifacts, path, scratch))
            return read_artifact(Path(scratch) / ARTIFACT_PATH)
    except OSError as exc:  # no scratch folder: the artifact cannot be fetched here
        raise _unavailable(f"the files of run {run_id} (no local scratch folder)", exc) from exc


def _listed_files(repository: ArtifactRepository, model_version: ModelVersion, run_id: str) -> list[str]:
    """The paths (from the run's artifact root) of every file under ``model``, within the size limits."""
    files: list[str] = []
    pending, entries, size = [ARTIFACT_PATH], 0, 0
    while pending:
        listing = _artifact_call(model_version, run_id, functools.partial(repository.list_artifacts, pending.pop()))
        for info in listing:
            entries += 1
            size += 0 if info.is_dir else max(int(info.file_size or 0), 0)
            check_artifact_size(entries, size)
            path = PurePosixPath(info.path)
            if path.is_absolute() or path.parts[:1] != (ARTIFACT_PATH,) or ".." in path.parts:
                raise ModelLoadError(
                    ModelLoadFailure.CORRUPT_ARTIFACT,
                    f"run {run_id} lists {info.path!r} under {ARTIFACT_PATH!r}: not a path inside it",
                )
            (pending if info.is_dir else files).append(path.as_posix())
    if not files:
        raise ModelLoadError(
            ModelLoadFailure.CORRUPT_ARTIFACT,
            f"the files of version {model_version.version} of model {model_version.name!r} are missing from "
            f"the folder {ARTIFACT_PATH!r} of run {run_id}",
        )
    return files


def _artifact_call(model_version: ModelVersion, run_id: str, call: Callable[[], T]) -> T:
    """``call()``, a read of run ``run_id``'s artifacts: missing files are ``CORRUPT_ARTIFACT``, any
    other failure ``STORE_UNAVAILABLE``."""
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except (MlflowException, FileNotFoundError) as exc:
        missing = isinstance(exc, FileNotFoundError) or exc.error_code == _NOT_FOUND_CODE
        if not missing:
            raise _unavailable(f"the files of run {run_id}", exc) from exc
        raise ModelLoadError(
            ModelLoadFailure.CORRUPT_ARTIFACT,
            f"the files of version {model_version.version} of model {model_version.name!r} are missing from "
            f"run {run_id}",
        ) from exc
    except Exception as exc:  # any other failure to fetch the files: the store is unavailable
        raise _unavailable(f"the files of run {run_id}", exc) from exc


def _read_store(what: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except Exception as exc:  # any failure to read the registry: it is unavailable
        raise _unavailable(what, exc) from exc


def _run_metrics(client: MlflowClient, run_id: str | None) -> dict[str, float]:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return {}
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code == _NOT_FOUND_CODE:
            return {}  # the run was deleted; the version stays listable
        raise _unavailable(f"run {run_id}", exc) from exc
    except Exception as exc:  # as in _registered_model
        raise _unavailable(f"run {run_id}", exc) from exc
    return {str(key): float(value) for key, value in run.data.metrics.items()}


def _unavailable(what: str, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(
        ModelLoadFailure.STORE_UNAVAILABLE,
        f"cannot read {what} from the MLflow store: {type(exc).__name__}: {redact_urls(str(exc))}",
    )


def _name_filter(name: str) -> str:
    """A ``search_model_versions`` filter for exactly ``name`` (MLflow strings have no escapes)."""
    if "'" not in name:
        return f"name = '{name}'"
    if '"' not in name:
        return f'name = "{name}"'
    raise ValueError(f"model names with both quote characters are not supported: {name!r}")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
