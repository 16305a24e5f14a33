"""The artifact directory: round trip, digest, and refusing changed bytes before unpickling them."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from numpy.typing import NDArray

from fraudcore.models import ModelLoadError, ModelLoadFailure, artifact_digest, load_bundle, save_bundle
from fraudcore.models.artifact import ESTIMATOR_FILE, METADATA_FILE, REFERENCE_FILE
from tests.unit.models.fitting import FEATURES, SPEC_DIGEST, bundle_of

Matrix = NDArray[np.float64]


class TouchOnLoad:
    """A pickle payload that creates ``marker`` when it is unpickled: stands in for hostile code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.marker,))


@pytest.fixture
def saved(tmp_path: Path, forest_model: Any, features: Matrix) -> tuple[Path, str]:
    directory = tmp_path / "bundle"
    return directory, save_bundle(bundle_of(forest_model, features), directory)


def _flip_byte(path: Path, offset: int = -1) -> None:
    content = bytearray(path.read_bytes())
    content[offset] ^= 0x01
    path.write_bytes(bytes(content))


def test_round_trip_gives_the_same_model(saved: tuple[Path, str], forest_model: Any, features: Matrix) -> None:
    directory, digest = saved
    assert sorted(path.name for path in directory.iterdir()) == [METADATA_FILE, ESTIMATOR_FILE, REFERENCE_FILE]
    assert digest == artifact_digest(directory)
    assert len(digest) == 64
    loaded = load_bundle(directory, expected_digest=digest)
    original = bundle_of(forest_model, features)
    assert loaded.feature_names == FEATURES
    assert loaded.feature_spec_digest == SPEC_DIGEST
    assert loaded.reason_method == "tree_path"
    np.testing.assert_array_equal(loaded.reference, original.reference)
    np.testing.assert_array_equal(loaded.score(features), original.score(features))
    assert loaded.reasons(features[:50]) == original.reasons(features[:50])
    metadata = json.loads((directory / METADATA_FILE).read_text())
    assert metadata["estimator"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert set(metadata["libraries"]) == {"python", "scikit-learn", "numpy", "joblib"}


def test_save_refuses_a_directory_that_is_not_empty(
    saved: tuple[Path, str], forest_model: Any, features: Matrix
) -> None:
    with pytest.raises(FileExistsError):
        save_bundle(bundle_of(forest_model, features), saved[0])


@pytest.mark.parametrize("name", [METADATA_FILE, ESTIMATOR_FILE, REFERENCE_FILE])
@pytest.mark.parametrize("offset", [0, -1])
def test_one_changed_bit_anywhere_changes_the_digest(saved: tuple[Path, str], name: str, offset: int) -> None:
    directory, digest = saved
    _flip_byte(directory / name, offset)
    assert artifact_digest(directory) != digest
    with pytest.raises(ModelLoadError) as refused:
        load_bundle(directory, expected_digest=digest)
    assert refused.value.reason is ModelLoadFailure.DIGEST_MISMATCH


def test_added_or_renamed_files_change_the_digest(saved: tuple[Path, str]) -> None:
    directory, digest = saved
    (directory / "extra.txt").write_text("")
    with_extra = artifact_digest(directory)
    assert with_extra != digest
    (directory / "extra.txt").rename(directory / "other.txt")
    assert artifact_digest(directory) not in (digest, with_extra)


def test_paths_and_contents_cannot_trade_bytes(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "ab").write_bytes(b"c")
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "a").write_bytes(b"bc")
    assert artifact_digest(tmp_path / "one") != artifact_digest(tmp_path / "two")


def test_a_tampered_pickle_is_refused_without_being_unpickled(saved: tuple[Path, str], tmp_path: Path) -> None:
    directory, digest = saved
    marker = tmp_path / "payload-ran"
    joblib.dump(TouchOnLoad(marker), directory / ESTIMATOR_FILE)

    with pytest.raises(ModelLoadError) as refused:
        load_bundle(directory, expected_digest=digest)
    assert refused.value.reason is ModelLoadFailure.DIGEST_MISMATCH
    assert "not unpickled" in refused.value.message
    assert not marker.exists()

    joblib.load(directory / ESTIMATOR_FILE)  # the payload is live: unpickling it does run it
    assert marker.exists()


def test_readable_bytes_that_are_no_model_are_a_corrupt_artifact(saved: tuple[Path, str]) -> None:
    directory, _ = saved
    (directory / ESTIMATOR_FILE).write_bytes(b"not a pickle at all")
    with pytest.raises(ModelLoadError) as refused:
        load_bundle(directory, expected_digest=artifact_digest(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT


def test_a_pickle_of_code_that_is_not_installed_is_a_corrupt_artifact(saved: tuple[Path, str]) -> None:
    directory, _ = saved
    missing_module = pickle.dumps(ValueError("x")).replace(b"builtins", b"nomodule")  # same length: still a pickle
    (directory / ESTIMATOR_FILE).write_bytes(missing_module)
    with pytest.raises(ModelLoadError, match="ModuleNotFoundError") as refused:
        load_bundle(directory, expected_digest=artifact_digest(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT


def test_a_missing_file_or_an_unknown_format_is_a_corrupt_artifact(saved: tuple[Path, str]) -> None:
    directory, _ = saved
    metadata = json.loads((directory / METADATA_FILE).read_text())
    (directory / METADATA_FILE).write_text(json.dumps({**metadata, "format": 99}))
    with pytest.raises(ModelLoadError, match="format 99") as refused:
        load_bundle(directory, expected_digest=artifact_digest(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT

    (directory / REFERENCE_FILE).unlink()
    with pytest.raises(ModelLoadError, match=REFERENCE_FILE) as refused:
        load_bundle(directory, expected_digest=artifact_digest(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT


def test_a_reference_holding_pickles_is_not_unpickled(saved: tuple[Path, str], tmp_path: Path) -> None:
    directory, _ = saved
    marker = tmp_path / "payload-ran"
    np.save(directory / REFERENCE_FILE, np.array([TouchOnLoad(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ModelLoadError) as refused:
        load_bundle(directory, expected_digest=artifact_digest(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT
    assert not marker.exists()


def test_symbolic_links_are_refused(saved: tuple[Path, str], tmp_path: Path) -> None:
    directory, digest = saved
    (tmp_path / "elsewhere").write_bytes(b"x")
    (directory / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="not a regular file"):
        artifact_digest(directory)
    with pytest.raises(ModelLoadError) as refused:
        load_bundle(directory, expected_digest=digest)
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT
    with pytest.raises(ModelLoadError) as refused:
        load_bundle(tmp_path / "absent", expected_digest=digest)
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT
