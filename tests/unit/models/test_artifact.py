"""The artifact folder: an MLflow sklearn model in skops format; round trip for every estimator kind,
digest, and refusing pickles and untrusted types without running them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import skops.io
import yaml
from numpy.typing import NDArray

from fraudcore.model_kind import ModelKind
from fraudcore.models import TRUSTED_TYPES, ModelLoadError, ModelLoadFailure, artifact_digest, save_bundle
from fraudcore.models.artifact import (
    ESTIMATOR_FILE,
    LEGACY_ESTIMATOR_FILE,
    MAX_ARTIFACT_BYTES,
    MAX_ARTIFACT_FILES,
    METADATA_FILE,
    REFERENCE_FILE,
    check_artifact_size,
    parse_bundle,
    read_artifact,
)
from tests.unit.models.fitting import FEATURES, SPEC_DIGEST, bundle_of
from trainer.fitting import fit_bundle

Matrix = NDArray[np.float64]

_UNPICKLED: list[str] = []
_WATCHING: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _WATCHING and event == "pickle.find_class":
        _UNPICKLED.append(f"{args[0]}.{args[1]}")


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only while a test watches


@pytest.fixture
def no_unpickling() -> Iterator[list[str]]:
    """Every class pickle looks up while the test runs (there must be none)."""
    _UNPICKLED.clear()
    _WATCHING.append(True)
    try:
        yield _UNPICKLED
    finally:
        _WATCHING.clear()


class TouchOnLoad:
    """A pickle payload that creates ``marker`` when it is unpickled: stands in for hostile code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.marker,))


class NotTrusted:
    """A type skops can serialize but fraudstream does not trust."""

    def __init__(self) -> None:
        self.value = 1


@pytest.fixture
def saved(tmp_path: Path, forest_model: Any, features: Matrix) -> tuple[Path, str]:
    directory = tmp_path / "model"
    return directory, save_bundle(bundle_of(forest_model, features), directory)


@pytest.fixture(scope="module")
def kind_bundles(data: tuple[Matrix, NDArray[np.int64]]) -> dict[ModelKind, Any]:
    """The trainer's own estimator of every kind, with its default hyperparameters."""
    features, labels = data
    return {kind: fit_bundle(features, labels.astype(bool), kind=kind, seed=0) for kind in ModelKind}


def _flip_byte(path: Path, offset: int = -1) -> None:
    content = bytearray(path.read_bytes())
    content[offset] ^= 0x01
    path.write_bytes(bytes(content))


@pytest.mark.parametrize("kind", list(ModelKind))
def test_every_kind_round_trips_without_pickle_with_identical_scores(
    kind: ModelKind, kind_bundles: dict[ModelKind, Any], features: Matrix, tmp_path: Path, no_unpickling: list[str]
) -> None:
    original = kind_bundles[kind]
    digest = save_bundle(original, tmp_path / "model")
    no_unpickling.clear()  # saving (MLflow's own bookkeeping) is not what is watched: loading is
    files = read_artifact(tmp_path / "model")
    assert artifact_digest(tmp_path / "model") == digest
    loaded = parse_bundle(files)
    assert no_unpickling == []
    assert type(loaded.estimator) is type(original.estimator)
    np.testing.assert_array_equal(loaded.estimator.predict_proba(features), original.estimator.predict_proba(features))
    assert loaded.reason_method == original.reason_method
    assert loaded.reasons(features[:50]) == original.reasons(features[:50])
    untrusted = skops.io.get_untrusted_types(file=tmp_path / "model" / ESTIMATOR_FILE)
    assert set(untrusted) <= set(TRUSTED_TYPES), f"{kind} needs {sorted(set(untrusted) - set(TRUSTED_TYPES))}"


def test_the_folder_is_an_mlflow_sklearn_model_in_skops_format(saved: tuple[Path, str], features: Matrix) -> None:
    directory, digest = saved
    names = {path.name for path in directory.iterdir()}
    assert {"MLmodel", ESTIMATOR_FILE, METADATA_FILE, REFERENCE_FILE, "input_example.json"} <= names
    assert not any(name.endswith((".pkl", ".joblib", ".pickle")) for name in names)
    mlmodel = yaml.safe_load((directory / "MLmodel").read_text())
    sklearn = mlmodel["flavors"]["sklearn"]
    assert (sklearn["serialization_format"], sklearn["pickled_model"]) == ("skops", ESTIMATOR_FILE)
    assert sorted(sklearn["skops_trusted_types"]) == sorted(TRUSTED_TYPES)
    assert mlmodel["flavors"]["python_function"]["predict_fn"] == "predict_proba"
    [inputs] = json.loads(mlmodel["signature"]["inputs"])
    assert inputs["tensor-spec"] == {"dtype": "float64", "shape": [-1, len(FEATURES)]}
    metadata = json.loads((directory / METADATA_FILE).read_text())
    assert metadata["format"] == 2
    assert metadata["estimator"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert {"python", "scikit-learn", "numpy", "skops", "mlflow"} <= set(metadata["libraries"])
    assert digest == artifact_digest(directory)
    assert len(digest) == 64
    loaded = parse_bundle(read_artifact(directory))
    assert (loaded.feature_names, loaded.feature_spec_digest) == (FEATURES, SPEC_DIGEST)


def test_save_refuses_a_directory_that_is_not_empty(
    saved: tuple[Path, str], forest_model: Any, features: Matrix
) -> None:
    with pytest.raises(FileExistsError):
        save_bundle(bundle_of(forest_model, features), saved[0])


@pytest.mark.parametrize("name", [METADATA_FILE, ESTIMATOR_FILE, REFERENCE_FILE, "MLmodel"])
@pytest.mark.parametrize("offset", [0, -1])
def test_one_changed_bit_anywhere_changes_the_digest(saved: tuple[Path, str], name: str, offset: int) -> None:
    directory, digest = saved
    _flip_byte(directory / name, offset)
    assert artifact_digest(directory) != digest


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


def test_a_format_1_pickle_is_refused_unread(tmp_path: Path, no_unpickling: list[str]) -> None:
    directory = tmp_path / "legacy"
    directory.mkdir()
    marker = tmp_path / "payload-ran"
    joblib.dump(TouchOnLoad(marker), directory / LEGACY_ESTIMATOR_FILE)
    (directory / "bundle.json").write_text(json.dumps({"format": 1}))
    with pytest.raises(ModelLoadError, match="format 1") as refused:
        parse_bundle(read_artifact(directory))
    assert refused.value.reason is ModelLoadFailure.LEGACY_FORMAT
    assert (no_unpickling, marker.exists()) == ([], False)


def test_a_pickle_in_place_of_the_skops_file_is_not_run(
    saved: tuple[Path, str], tmp_path: Path, no_unpickling: list[str]
) -> None:
    directory, _ = saved
    marker = tmp_path / "payload-ran"
    joblib.dump(TouchOnLoad(marker), directory / ESTIMATOR_FILE)
    with pytest.raises(ModelLoadError) as refused:
        parse_bundle(read_artifact(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT
    assert (no_unpickling, marker.exists()) == ([], False)
    _WATCHING.clear()
    joblib.load(directory / ESTIMATOR_FILE)  # the payload is live: unpickling it does run it
    assert marker.exists()


def test_a_skops_file_with_an_untrusted_type_is_refused(saved: tuple[Path, str]) -> None:
    directory, _ = saved
    (directory / ESTIMATOR_FILE).write_bytes(skops.io.dumps(NotTrusted()))
    with pytest.raises(ModelLoadError, match=r"does not trust: .*NotTrusted") as refused:
        parse_bundle(read_artifact(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT


def test_readable_bytes_that_are_no_model_are_a_corrupt_artifact(saved: tuple[Path, str]) -> None:
    directory, _ = saved
    (directory / ESTIMATOR_FILE).write_bytes(b"not a zip at all")
    with pytest.raises(ModelLoadError) as refused:
        parse_bundle(read_artifact(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT


def test_a_missing_file_or_an_unknown_format_is_a_corrupt_artifact(saved: tuple[Path, str]) -> None:
    directory, _ = saved
    metadata = json.loads((directory / METADATA_FILE).read_text())
    (directory / METADATA_FILE).write_text(json.dumps({**metadata, "format": 99}))
    with pytest.raises(ModelLoadError, match="format 99") as refused:
        parse_bundle(read_artifact(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT

    (directory / REFERENCE_FILE).unlink()
    with pytest.raises(ModelLoadError, match=REFERENCE_FILE) as refused:
        parse_bundle(read_artifact(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT


def test_a_reference_holding_pickles_is_not_unpickled(
    saved: tuple[Path, str], tmp_path: Path, no_unpickling: list[str]
) -> None:
    directory, _ = saved
    marker = tmp_path / "payload-ran"
    np.save(directory / REFERENCE_FILE, np.array([TouchOnLoad(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ModelLoadError) as refused:
        parse_bundle(read_artifact(directory))
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT
    assert (no_unpickling, marker.exists()) == ([], False)


def test_symbolic_links_are_refused(saved: tuple[Path, str], tmp_path: Path) -> None:
    directory, _ = saved
    (tmp_path / "elsewhere").write_bytes(b"x")
    (directory / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="not a regular file"):
        artifact_digest(directory)
    with pytest.raises(ModelLoadError) as refused:
        read_artifact(directory)
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT
    with pytest.raises(ModelLoadError) as refused:
        read_artifact(tmp_path / "absent")
    assert refused.value.reason is ModelLoadFailure.CORRUPT_ARTIFACT


def test_reading_stops_at_the_file_count_limit(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    for index in range(4):
        (tmp_path / "nested" / f"{index}.txt").write_bytes(b"x")
    assert len(read_artifact(tmp_path, max_files=5)) == 4  # four files and their folder
    with pytest.raises(ModelLoadError, match="more than 4 files and folders") as refused:
        read_artifact(tmp_path, max_files=4)
    assert refused.value.reason is ModelLoadFailure.TOO_LARGE


def test_reading_stops_at_the_byte_limit_without_reading_a_larger_file_whole(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 60)
    (tmp_path / "b.bin").write_bytes(b"b" * 40)
    assert sum(len(content) for content in read_artifact(tmp_path, max_bytes=100).values()) == 100
    with pytest.raises(ModelLoadError, match="more than 99 bytes") as refused:
        read_artifact(tmp_path, max_bytes=99)
    assert refused.value.reason is ModelLoadFailure.TOO_LARGE
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as out:  # sparse: 64 GiB that take no disk; read whole, it would exhaust memory
        out.truncate(64 * 1024**3)
    with pytest.raises(ModelLoadError) as refused:
        read_artifact(tmp_path, max_bytes=1024**2)
    assert refused.value.reason is ModelLoadFailure.TOO_LARGE


def test_the_default_limits_fit_a_model_and_are_enforced_on_listed_sizes() -> None:
    check_artifact_size(MAX_ARTIFACT_FILES, MAX_ARTIFACT_BYTES)
    for entries, size in ((MAX_ARTIFACT_FILES + 1, 0), (1, MAX_ARTIFACT_BYTES + 1)):
        with pytest.raises(ModelLoadError) as refused:
            check_artifact_size(entries, size)
        assert refused.value.reason is ModelLoadFailure.TOO_LARGE
