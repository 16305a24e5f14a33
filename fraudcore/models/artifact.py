"""A :class:`ModelBundle` as a directory of files, and the digest that makes it trustworthy.

Layout (format 1)::

    bundle.json       metadata: format, feature names, feature spec digest, estimator class, library versions
    estimator.joblib  the fitted estimator (a joblib pickle)
    reference.npy     the reference batch (numpy format, loaded with pickles disallowed)

Other files (the MLflow ``MLmodel`` added at publication) are covered by the digest and otherwise
ignored. Loading reads every file into memory once, checks the digest of those bytes against the one
recorded at registration, and only then parses and unpickles the same bytes: nothing is unpickled
before the check, and nothing can change on disk between the check and the unpickling.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import platform
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from fraudcore.models.bundle import ModelBundle
from fraudcore.models.errors import ModelLoadError, ModelLoadFailure

__all__ = [
    "ESTIMATOR_FILE",
    "FORMAT",
    "METADATA_FILE",
    "REFERENCE_FILE",
    "artifact_digest",
    "load_bundle",
    "save_bundle",
]

FORMAT = 1
METADATA_FILE = "bundle.json"
ESTIMATOR_FILE = "estimator.joblib"
REFERENCE_FILE = "reference.npy"


def artifact_digest(directory: Path) -> str:
    """SHA-256 (hex) over the sorted relative paths and bytes of every file under ``directory``.

    Each path and each content is preceded by its length (8 bytes, big-endian), so two different
    trees never hash the same stream. Symbolic links and special files are refused.
    """
    return _tree_digest(_read_tree(directory))


def save_bundle(bundle: ModelBundle, directory: Path) -> str:
    """Write ``bundle`` into ``directory`` (created; must be empty) and return its digest."""
    import joblib

    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty")
    joblib.dump(bundle.estimator, directory / ESTIMATOR_FILE)
    with (directory / REFERENCE_FILE).open("wb") as out:
        np.save(out, bundle.reference, allow_pickle=False)
    metadata = {
        "format": FORMAT,
        "feature_names": list(bundle.feature_names),
        "feature_spec_digest": bundle.feature_spec_digest,
        "estimator": f"{type(bundle.estimator).__module__}.{type(bundle.estimator).__qualname__}",
        "reason_method": bundle.reason_method,
        "libraries": {
            "python": platform.python_version(),
            **{name: version(name) for name in ("scikit-learn", "numpy", "joblib")},
        },
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return artifact_digest(directory)


def load_bundle(directory: Path, *, expected_digest: str) -> ModelBundle:
    """Read the bundle in ``directory`` if its digest equals ``expected_digest``.

    Raises :class:`ModelLoadError`: ``DIGEST_MISMATCH`` before anything is parsed, ``CORRUPT_ARTIFACT``
    when the files cannot be read or parsed (digest matching).
    """
    try:
        files = _read_tree(directory)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(ModelLoadFailure.CORRUPT_ARTIFACT, f"cannot read the artifact: {exc}") from exc
    actual = _tree_digest(files)
    if not hmac.compare_digest(actual.encode(), expected_digest.encode()):
        raise ModelLoadError(
            ModelLoadFailure.DIGEST_MISMATCH,
            f"artifact digest {actual} differs from the recorded {expected_digest}: its files were changed "
            "or damaged after registration; it was not unpickled",
        )
    return _parse(files)


def _parse(files: Mapping[str, bytes]) -> ModelBundle:
    """The bundle in verified ``files``; every failure is ``CORRUPT_ARTIFACT``."""
    import joblib

    missing = [name for name in (METADATA_FILE, ESTIMATOR_FILE, REFERENCE_FILE) if name not in files]
    if missing:
        raise ModelLoadError(ModelLoadFailure.CORRUPT_ARTIFACT, f"the artifact lacks {', '.join(missing)}")
    try:
        metadata = _metadata(files)
        reference = np.load(io.BytesIO(files[REFERENCE_FILE]), allow_pickle=False)
        estimator = joblib.load(io.BytesIO(files[ESTIMATOR_FILE]))
        return ModelBundle(
            estimator=estimator,
            feature_names=tuple(metadata["feature_names"]),
            feature_spec_digest=metadata["feature_spec_digest"],
            reference=reference,
        )
    except Exception as exc:  # unpickling can raise anything; all of it means "unreadable"
        raise ModelLoadError(
            ModelLoadFailure.CORRUPT_ARTIFACT,
            f"the artifact is unreadable or inconsistent: {type(exc).__name__}: {exc}",
        ) from exc


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


def _read_tree(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory``, by relative POSIX path."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    files: dict[str, bytes] = {}
    for path in directory.rglob("*"):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ValueError(f"{path} is not a regular file or directory")
        if path.is_file():
            files[path.relative_to(directory).as_posix()] = path.read_bytes()
    return files


def _tree_digest(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files, key=lambda path: path.encode("utf-8")):
        for part in (name.encode("utf-8"), files[name]):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()
