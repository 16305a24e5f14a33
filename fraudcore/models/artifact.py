"""A :class:`ModelBundle` as an MLflow sklearn-flavour model folder, pickle-free, and its digest.

Layout (format 2)::

    MLmodel, conda.yaml, python_env.yaml, requirements.txt, input_example.json, …
                      written by ``mlflow.sklearn.save_model`` (signature, input example, pyfunc entry)
    model.skops       the fitted estimator in skops format (no pickle)
    fraudstream.json  metadata: format, feature names, feature spec digest, estimator class, libraries
    reference.npy     the reference batch (numpy format, loaded with pickles disallowed)

So ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work on every version: the pyfunc takes a
float64 matrix whose columns are the feature names in order (``fraudstream.json``) and answers
``predict_proba``'s ``[P(genuine), P(fraud)]`` per row.

fraudstream itself never calls MLflow's loaders, which would take the list of trusted types from
``MLmodel``: it reads every file into memory once (at most :data:`MAX_ARTIFACT_FILES` files and
folders and :data:`MAX_ARTIFACT_BYTES` bytes, else ``TOO_LARGE``), lets the caller check the
digest and signature of those bytes, then parses the same bytes with ``skops.io.loads`` and the
trusted types of :data:`TRUSTED_TYPES`, held here in code. Nothing can change between the check and
the parsing. Format 1 (a joblib pickle) is recognised and refused, never read.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import warnings
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import numpy as np

from fraudcore.models.bundle import ModelBundle
from fraudcore.models.errors import ModelLoadError, ModelLoadFailure

__all__ = [
    "ESTIMATOR_FILE",
    "FORMAT",
    "LEGACY_ESTIMATOR_FILE",
    "MAX_ARTIFACT_BYTES",
    "MAX_ARTIFACT_FILES",
    "METADATA_FILE",
    "REFERENCE_FILE",
    "TRUSTED_TYPES",
    "artifact_digest",
    "check_artifact_size",
    "parse_bundle",
    "read_artifact",
    "save_bundle",
    "tree_digest",
]

FORMAT = 2
METADATA_FILE = "fraudstream.json"
ESTIMATOR_FILE = "model.skops"
REFERENCE_FILE = "reference.npy"
LEGACY_ESTIMATOR_FILE = "estimator.joblib"
"""Format 1's pickle: a folder holding it is refused unread."""
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
"""The most bytes a version's files may hold together (a fraudstream model is a few MiB)."""
MAX_ARTIFACT_FILES = 1000
"""The most files and folders a version's artifact may hold (a fraudstream model has about ten)."""

TRUSTED_TYPES: Final[tuple[str, ...]] = (
    "fraudcore.models.online.OnlineLogisticRegression",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)
"""Types skops may build beyond those it trusts by default (scikit-learn's estimators, numpy arrays,
builtins): the ones the trainer's estimator kinds need (``skops.io.get_untrusted_types`` lists them).
Never read from an artifact or its ``MLmodel``. skops warns that a crafted ``Tree`` can make
``predict`` read out of bounds: fraudstream parses a file only after its signature verified, so only
trees its own trainer wrote are ever built."""

_PYFUNC_METHOD = "predict_proba"


def artifact_digest(directory: Path) -> str:
    """SHA-256 (hex) over the sorted relative paths and bytes of every file under ``directory``.

    Each path and each content is preceded by its length (8 bytes, big-endian), so two different
    trees never hash the same stream. Symbolic links and special files are refused (``ValueError``),
    and so is a folder over the size limits (``TOO_LARGE``).
    """
    return tree_digest(_read_tree(directory, MAX_ARTIFACT_BYTES, MAX_ARTIFACT_FILES))


def save_bundle(bundle: ModelBundle, directory: Path) -> str:
    """Write ``bundle`` as a new MLflow model folder ``directory`` (must not exist or be empty) and
    return its digest."""
    from mlflow.models import infer_signature

    if directory.exists():
        if any(directory.iterdir()):
            raise FileExistsError(f"{directory} is not empty")
        directory.rmdir()
    example = bundle.reference[:2]  # a tensor signature: a matrix in the feature order, as fraudstream scores
    signature = infer_signature(example, bundle.estimator.predict_proba(bundle.reference[:2]))
    libraries = {name: version(name) for name in ("scikit-learn", "numpy", "skops", "scipy")}
    with warnings.catch_warnings():  # mlflow compares a pandas Index with a range (pandas 3 deprecates it)
        warnings.filterwarnings("ignore", "Operation with range is deprecated", DeprecationWarning)
        _save_mlflow_model(bundle, directory, example, signature, libraries)
    with (directory / REFERENCE_FILE).open("wb") as out:
        np.save(out, bundle.reference, allow_pickle=False)
    metadata = {
        "format": FORMAT,
        "feature_names": list(bundle.feature_names),
        "feature_spec_digest": bundle.feature_spec_digest,
        "estimator": f"{type(bundle.estimator).__module__}.{type(bundle.estimator).__qualname__}",
        "reason_method": bundle.reason_method,
        "libraries": {"python": platform.python_version(), "mlflow": version("mlflow"), **libraries},
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return artifact_digest(directory)


def _save_mlflow_model(
    bundle: ModelBundle, directory: Path, example: Any, signature: Any, libraries: Mapping[str, str]
) -> None:
    import mlflow.sklearn

    mlflow.sklearn.save_model(
        bundle.estimator,
        str(directory),
        serialization_format="skops",
        skops_trusted_types=list(TRUSTED_TYPES),
        signature=signature,
        input_example=example,
        pip_requirements=[f"{name}=={pinned}" for name, pinned in libraries.items()],
        pyfunc_predict_fn=_PYFUNC_METHOD,
        metadata={"fraudstream_artifact_format": FORMAT, "feature_spec_digest": bundle.feature_spec_digest},
    )


def read_artifact(
    directory: Path, *, max_bytes: int = MAX_ARTIFACT_BYTES, max_files: int = MAX_ARTIFACT_FILES
) -> dict[str, bytes]:
    """Every file of the artifact folder, by relative POSIX path; ``CORRUPT_ARTIFACT`` if unreadable,
    ``TOO_LARGE`` past ``max_files`` files and folders or ``max_bytes`` bytes (never read past that)."""
    try:
        return _read_tree(directory, max_bytes, max_files)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(ModelLoadFailure.CORRUPT_ARTIFACT, f"cannot read the artifact: {exc}") from exc


def check_artifact_size(
    entries: int, size: int, *, max_bytes: int = MAX_ARTIFACT_BYTES, max_files: int = MAX_ARTIFACT_FILES
) -> None:
    """``TOO_LARGE`` when ``entries`` files and folders or ``size`` bytes exceed the limits."""
    if entries > max_files:
        raise ModelLoadError(
            ModelLoadFailure.TOO_LARGE,
            f"the artifact holds more than {max_files} files and folders (a fraudstream model has about "
            "ten): refused before it is read whole",
        )
    if size > max_bytes:
        raise ModelLoadError(
            ModelLoadFailure.TOO_LARGE,
            f"the artifact holds more than {max_bytes} bytes (a fraudstream model has a few MiB): refused "
            "before it is read whole",
        )


def parse_bundle(files: Mapping[str, bytes]) -> ModelBundle:
    """The bundle in verified ``files``: ``LEGACY_FORMAT`` for a format 1 pickle (not read),
    ``CORRUPT_ARTIFACT`` for anything else that cannot be read."""
    import skops.io

    if LEGACY_ESTIMATOR_FILE in files:
        raise ModelLoadError(ModelLoadFailure.LEGACY_FORMAT, legacy_format_message())
    missing = [name for name in (METADATA_FILE, ESTIMATOR_FILE, REFERENCE_FILE) if name not in files]
    if missing:
        raise ModelLoadError(ModelLoadFailure.CORRUPT_ARTIFACT, f"the artifact lacks {', '.join(missing)}")
    try:
        metadata = _metadata(files)
        reference = np.load(io.BytesIO(files[REFERENCE_FILE]), allow_pickle=False)
        untrusted = sorted(set(skops.io.get_untrusted_types(data=files[ESTIMATOR_FILE])) - set(TRUSTED_TYPES))
        if untrusted:
            raise ValueError(f"{ESTIMATOR_FILE} holds types fraudstream does not trust: {', '.join(untrusted)}")
        estimator = skops.io.loads(files[ESTIMATOR_FILE], trusted=list(TRUSTED_TYPES))
        return ModelBundle(
            estimator=estimator,
            feature_names=tuple(metadata["feature_names"]),
            feature_spec_digest=metadata["feature_spec_digest"],
            reference=reference,
        )
    except Exception as exc:  # a damaged archive can raise anything; all of it means "unreadable"
        raise ModelLoadError(
            ModelLoadFailure.CORRUPT_ARTIFACT,
            f"the artifact is unreadable or inconsistent: {type(exc).__name__}: {exc}",
        ) from exc


def legacy_format_message() -> str:
    """Why a format 1 version is refused, and what to do."""
    return (
        f"the version is in artifact format 1 (a {LEGACY_ESTIMATOR_FILE} pickle), which fraudstream no longer "
        f"loads: unpickling runs code. Register a new version in format {FORMAT} (`fraudstream train`)"
    )


def tree_digest(files: Mapping[str, bytes]) -> str:
    """The digest of :func:`artifact_digest` over files already read."""
    digest = hashlib.sha256()
    for name in sorted(files, key=lambda path: path.encode("utf-8")):
        for part in (name.encode("utf-8"), files[name]):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def _metadata(files: Mapping[str, bytes]) -> dict[str, Any]:
    metadata = json.loads(files[METADATA_FILE].decode("utf-8"))
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise ValueError(f"{METADATA_FILE} has format {found!r}; this version reads format {FORMAT}")
    names = metadata.get("feature_names")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"{METADATA_FILE}: feature_names must be a list of strings")
    if not isinstance(metadata.get("feature_spec_digest"), str):
        raise ValueError(f"{METADATA_FILE}: feature_spec_digest must be a string")
    return metadata


def _read_tree(directory: Path, max_bytes: int, max_files: int) -> dict[str, bytes]:
    """Every regular file under ``directory``, by relative POSIX path, within the size limits."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    files: dict[str, bytes] = {}
    size = 0
    for entries, path in enumerate(directory.rglob("*"), start=1):
        check_artifact_size(entries, size, max_bytes=max_bytes, max_files=max_files)
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ValueError(f"{path} is not a regular file or directory")
        if path.is_file():
            with path.open("rb") as handle:
                content = handle.read(max_bytes - size + 1)  # a file larger than the rest is not read whole
            size += len(content)
            check_artifact_size(entries, size, max_bytes=max_bytes, max_files=max_files)
            files[path.relative_to(directory).as_posix()] = content
    return files
