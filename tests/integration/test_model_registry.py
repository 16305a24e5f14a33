"""The model registry layer against the real embedded MLflow store: publish, aliases, list, load, refuse."""

from __future__ import annotations

import json
import pickle
import shutil
import socket
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from numpy.typing import NDArray

from fraudcore import mlflow_store
from fraudcore.models import (
    CHAMPION,
    PREVIOUS,
    ModelLoadError,
    ModelLoadFailure,
    VerificationKeys,
    artifact_digest,
    list_versions,
    load_alias,
    load_version,
    promote,
    publish,
    resolve_alias,
    set_alias,
)
from fraudcore.models.artifact import ESTIMATOR_FILE, FORMAT, MAX_ARTIFACT_BYTES, MAX_ARTIFACT_FILES, TRUSTED_TYPES
from fraudcore.models.registry import (
    TAG_ARTIFACT_DIGEST,
    TAG_ARTIFACT_FORMAT,
    TAG_FEATURE_NAMES,
    TAG_FEATURE_SPEC_DIGEST,
    TAG_SIGNATURE,
    TAG_SIGNING_KEY,
)
from fraudcore.models.signing import key_id, sign, signed_payload
from fraudcore.settings import Settings
from tests.integration.conftest import free_port
from tests.unit.models.fitting import FEATURES, SPEC_DIGEST, bundle_of, forest, logistic, nan_logistic, training_data
from tests.unit.models.test_artifact import TouchOnLoad

if TYPE_CHECKING:
    from mlflow import MlflowClient

Matrix = NDArray[np.float64]


@pytest.fixture(scope="module")
def data() -> tuple[Matrix, NDArray[np.int64]]:
    return training_data()


SIGNER = Ed25519PrivateKey.generate()
"""The trainer's key in these tests; the registry never sees it."""
KEYS = VerificationKeys((SIGNER.public_key(),))


@pytest.fixture
def client(services: Settings) -> MlflowClient:
    return mlflow_store.connect(services)


@pytest.fixture
def experiment_id(services: Settings, client: MlflowClient, unique: str) -> str:
    return mlflow_store.ensure_experiment(services, client, f"models-{unique}")


@pytest.fixture
def name(unique: str) -> str:
    return f"fraud-{unique}"


@pytest.fixture
def published(client: MlflowClient, experiment_id: str, name: str, data: tuple[Matrix, NDArray[np.int64]]) -> str:
    """One logistic-regression version of ``name``."""
    return publish(client, experiment_id, bundle_of(logistic(*data), data[0]), name, signing_key=SIGNER)


def _refusal(load: Callable[[], Any]) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as refused:
        load()
    return refused.value


def _artifact_folder(client: MlflowClient, name: str, version: str, services: Settings) -> Path:
    folder = Path(urllib.parse.urlparse(str(client.get_model_version(name, version).source)).path)
    assert folder.is_relative_to(services.artifact_root)
    return folder


def test_publish_promote_list_and_load(
    services: Settings, client: MlflowClient, experiment_id: str, name: str, data: tuple[Matrix, NDArray[np.int64]]
) -> None:
    features = data[0]
    linear, trees = bundle_of(logistic(*data), features), bundle_of(forest(*data), features)
    first = publish(
        client,
        experiment_id,
        linear,
        name,
        metrics={"average_precision": 0.61, "card_precision_at_100": 0.22},
        params={"model": "logistic_regression", "C": 1.0},
        tags={"trained_on": "synthetic"},
        description="baseline",
        signing_key=SIGNER,
    )
    assert promote(client, name, first) is None
    second = publish(client, experiment_id, trees, name, metrics={"average_precision": 0.7}, signing_key=SIGNER)
    assert (first, second) == ("1", "2")
    assert resolve_alias(client, name, CHAMPION) == first
    assert promote(client, name, second) == first
    assert (resolve_alias(client, name, CHAMPION), resolve_alias(client, name, PREVIOUS)) == (second, first)
    assert promote(client, name, second) is None
    assert resolve_alias(client, name, PREVIOUS) == first
    assert resolve_alias(client, name, "challenger") is None

    newest, oldest = list_versions(client, name)
    assert (newest.version, newest.aliases, dict(newest.metrics)) == (second, (CHAMPION,), {"average_precision": 0.7})
    assert (oldest.version, oldest.aliases) == (first, (PREVIOUS,))
    assert dict(oldest.metrics) == {"average_precision": 0.61, "card_precision_at_100": 0.22}
    assert oldest.created_at <= newest.created_at <= datetime.now(UTC)
    assert newest.recorded_digest is not None
    assert len(newest.recorded_digest) == 64

    version = client.get_model_version(name, first)
    assert json.loads(version.tags[TAG_FEATURE_NAMES]) == list(FEATURES)
    assert version.tags[TAG_FEATURE_SPEC_DIGEST] == SPEC_DIGEST
    assert version.tags["trained_on"] == "synthetic"
    assert version.description == "baseline"
    run = client.get_run(str(version.run_id))
    assert run.info.status == "FINISHED"
    assert run.data.params == {"model": "logistic_regression", "C": "1.0"}
    assert version.tags[TAG_ARTIFACT_DIGEST] == artifact_digest(_artifact_folder(client, name, first, services))
    assert (version.tags[TAG_ARTIFACT_FORMAT], version.tags[TAG_SIGNING_KEY]) == (str(FORMAT), key_id(SIGNER))
    payload = signed_payload(
        model_name=name,
        run_id=str(version.run_id),
        artifact_digest=oldest.recorded_digest or "",
        artifact_format=FORMAT,
    )
    assert KEYS.verify(payload, version.tags[TAG_SIGNATURE])

    champion = load_alias(client, name, CHAMPION, FEATURES, expected_spec_digest=SPEC_DIGEST, keys=KEYS)
    assert (champion.name, champion.version, champion.artifact_digest) == (name, second, newest.recorded_digest)
    assert champion.validation.features_match
    assert champion.validation.reference_rows == 256
    assert 0.0 <= champion.validation.min_score <= champion.validation.max_score <= 1.0
    assert (datetime.now(UTC) - champion.loaded_at).total_seconds() < 60
    np.testing.assert_array_equal(champion.bundle.score(features), trees.score(features))
    assert champion.bundle.reasons(features[:20]) == trees.reasons(features[:20])

    rolled_back = load_version(client, name, first, list(FEATURES), keys=KEYS)
    np.testing.assert_array_equal(rolled_back.bundle.score(features), linear.score(features))
    set_alias(client, name, CHAMPION, first)
    assert load_alias(client, name, CHAMPION, FEATURES, keys=KEYS).version == first


def test_a_version_is_an_mlflow_sklearn_model_that_pyfunc_loads_and_predicts(
    services: Settings, client: MlflowClient, name: str, data: tuple[Matrix, NDArray[np.int64]]
) -> None:
    import mlflow.pyfunc
    from mlflow.models import Model

    features = data[0]
    bundle = bundle_of(logistic(*data), features)
    version = publish(client, services, bundle, name, signing_key=SIGNER)
    run = client.get_run(str(client.get_model_version(name, version).run_id))
    assert client.get_experiment(run.info.experiment_id).name == services.mlflow_experiment
    model = Model.load(str(_artifact_folder(client, name, version, services) / "MLmodel"))
    assert model.signature is not None
    assert model.signature.inputs.to_dict()[0]["tensor-spec"] == {"dtype": "float64", "shape": (-1, len(FEATURES))}
    assert model.flavors["sklearn"]["serialization_format"] == "skops"
    assert sorted(model.flavors["sklearn"]["skops_trusted_types"]) == sorted(TRUSTED_TYPES)
    set_alias(client, name, CHAMPION, version)
    served = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    answer = np.asarray(served.predict(pd.DataFrame(features[:5], columns=list(FEATURES))))
    np.testing.assert_allclose(answer[:, 1], bundle.score(features[:5]))


def test_what_does_not_exist_is_not_found(client: MlflowClient, name: str, published: str) -> None:
    for load in (
        lambda: load_alias(client, f"{name}-absent", CHAMPION, FEATURES, keys=KEYS),
        lambda: load_version(client, f"{name}-absent", "1", FEATURES, keys=KEYS),
        lambda: load_alias(client, name, CHAMPION, FEATURES, keys=KEYS),
        lambda: load_version(client, name, "99", FEATURES, keys=KEYS),
        lambda: load_version(client, name, "latest", FEATURES, keys=KEYS),
    ):
        refusal = _refusal(load)
        assert refusal.reason is ModelLoadFailure.NOT_FOUND
        assert "fraudstream train" in refusal.message
    assert (
        "has no alias 'champion'" in _refusal(lambda: load_alias(client, name, CHAMPION, FEATURES, keys=KEYS)).message
    )
    assert resolve_alias(client, f"{name}-absent", CHAMPION) is None
    assert list_versions(client, f"{name}-absent") == []


def test_bytes_changed_after_registration_are_refused(
    services: Settings, client: MlflowClient, name: str, published: str
) -> None:
    estimator = _artifact_folder(client, name, published, services) / ESTIMATOR_FILE
    content = bytearray(estimator.read_bytes())
    content[len(content) // 2] ^= 0x01
    estimator.write_bytes(bytes(content))
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.BAD_SIGNATURE
    assert "nothing in it was read" in refusal.message


def test_a_hostile_pickle_swapped_in_after_registration_is_refused_before_unpickling(
    services: Settings, client: MlflowClient, name: str, published: str, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    folder = _artifact_folder(client, name, published, services)
    estimator = folder / ESTIMATOR_FILE
    estimator.write_bytes(pickle.dumps(TouchOnLoad(marker)))
    client.set_model_version_tag(name, published, TAG_ARTIFACT_DIGEST, artifact_digest(folder))  # the digest tag lies
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.BAD_SIGNATURE
    assert not marker.exists(), "the tampered artifact was unpickled"
    pickle.loads(estimator.read_bytes())
    assert marker.exists()


def test_a_version_without_a_signature_is_refused(client: MlflowClient, name: str, published: str) -> None:
    client.delete_model_version_tag(name, published, TAG_SIGNATURE)
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.UNSIGNED
    assert TAG_SIGNATURE in refusal.message
    client.set_model_version_tag(name, published, TAG_ARTIFACT_FORMAT, "1")
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.LEGACY_FORMAT
    assert "format 1" in refusal.message


def test_only_the_verification_keys_vouch_for_a_version_and_rotation_keeps_the_old_one(
    client: MlflowClient, name: str, published: str
) -> None:
    other = Ed25519PrivateKey.generate()
    refusal = _refusal(
        lambda: load_version(client, name, published, FEATURES, keys=VerificationKeys((other.public_key(),)))
    )
    assert refusal.reason is ModelLoadFailure.BAD_SIGNATURE
    assert key_id(other) in refusal.message
    rotating = VerificationKeys((other.public_key(), SIGNER.public_key()))
    assert load_version(client, name, published, FEATURES, keys=rotating).version == published


def test_a_signed_artifact_copied_into_another_model_or_run_does_not_verify(
    client: MlflowClient, experiment_id: str, name: str, published: str
) -> None:
    original = client.get_model_version(name, published)
    source = str(original.source)
    copied_tags = {key: original.tags[key] for key in (TAG_SIGNATURE, TAG_ARTIFACT_DIGEST)}
    client.create_registered_model(f"{name}-copy")
    into_model = client.create_model_version(f"{name}-copy", source=source, run_id=original.run_id, tags=copied_tags)
    refusal = _refusal(lambda: load_version(client, f"{name}-copy", str(into_model.version), FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.BAD_SIGNATURE
    other_run = client.create_run(experiment_id).info.run_id
    into_run = client.create_model_version(name, source=source, run_id=other_run, tags=copied_tags)
    refusal = _refusal(lambda: load_version(client, name, str(into_run.version), FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.BAD_SIGNATURE


def test_a_version_loads_from_its_signed_run_whatever_its_source_says(
    services: Settings, client: MlflowClient, experiment_id: str, name: str, data: tuple[Matrix, NDArray[np.int64]]
) -> None:
    features = data[0]
    linear, trees = bundle_of(logistic(*data), features), bundle_of(forest(*data), features)
    signed = client.get_model_version(name, publish(client, experiment_id, linear, name, signing_key=SIGNER))
    other = client.get_model_version(name, publish(client, experiment_id, trees, name, signing_key=SIGNER))
    tags = {key: signed.tags[key] for key in (TAG_SIGNATURE, TAG_ARTIFACT_DIGEST)}
    listener = socket.create_server(("127.0.0.1", 0))  # a URL source would connect here
    listener.setblocking(False)
    sources = [str(other.source), f"http://127.0.0.1:{listener.getsockname()[1]}/model", "/"]
    with listener:
        for source in sources:
            forged = client.create_model_version(name, source=source, run_id=signed.run_id, tags=tags)
            loaded = load_version(client, name, str(forged.version), FEATURES, keys=KEYS)
            np.testing.assert_array_equal(loaded.bundle.score(features), linear.score(features))
            assert loaded.artifact_digest == signed.tags[TAG_ARTIFACT_DIGEST]
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody came: the source URL was never fetched
    unsigned_run = client.create_run(experiment_id).info.run_id
    elsewhere = client.create_model_version(name, source=str(signed.source), run_id=unsigned_run, tags=tags)
    refusal = _refusal(lambda: load_version(client, name, str(elsewhere.version), FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.BAD_SIGNATURE
    assert "nothing in it was read, nor even fetched" in refusal.message


def test_an_oversized_artifact_is_refused_from_its_listing_before_any_download(
    services: Settings, client: MlflowClient, name: str, published: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _artifact_folder(client, name, published, services)
    # no scratch folder can be made: a download would fail as STORE_UNAVAILABLE, never as TOO_LARGE
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-scratch"))
    with (folder / "padding.bin").open("wb") as out:  # sparse: the listing says 257 MiB, the disk holds none
        out.truncate(MAX_ARTIFACT_BYTES + 1024**2)
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.TOO_LARGE
    assert f"more than {MAX_ARTIFACT_BYTES} bytes" in refusal.message
    (folder / "padding.bin").unlink()
    many = folder / "many"
    many.mkdir()
    for index in range(MAX_ARTIFACT_FILES):
        (many / str(index)).touch()
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.TOO_LARGE
    assert f"more than {MAX_ARTIFACT_FILES} files" in refusal.message
    monkeypatch.undo()
    shutil.rmtree(many)
    assert load_version(client, name, published, FEATURES, keys=KEYS).version == published


def test_unreadable_or_missing_files_are_a_corrupt_artifact(
    services: Settings, client: MlflowClient, name: str, published: str
) -> None:
    folder = _artifact_folder(client, name, published, services)
    (folder / ESTIMATOR_FILE).write_bytes(b"garbage, signed by the key holder")
    run_id = str(client.get_model_version(name, published).run_id)
    payload = signed_payload(
        model_name=name, run_id=run_id, artifact_digest=artifact_digest(folder), artifact_format=FORMAT
    )
    client.set_model_version_tag(name, published, TAG_SIGNATURE, sign(SIGNER, payload))
    client.set_model_version_tag(name, published, TAG_ARTIFACT_DIGEST, artifact_digest(folder))
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.CORRUPT_ARTIFACT

    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    refusal = _refusal(lambda: load_version(client, name, published, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.CORRUPT_ARTIFACT
    assert "missing" in refusal.message


def test_other_features_are_incompatible(client: MlflowClient, name: str, published: str) -> None:
    refusal = _refusal(lambda: load_version(client, name, published, tuple(reversed(FEATURES)), keys=KEYS))
    assert refusal.reason is ModelLoadFailure.INCOMPATIBLE_FEATURES
    refusal = _refusal(
        lambda: load_version(client, name, published, FEATURES, expected_spec_digest="other-spec", keys=KEYS)
    )
    assert refusal.reason is ModelLoadFailure.INCOMPATIBLE_FEATURES


def test_a_version_scoring_nan_is_invalid(
    client: MlflowClient, experiment_id: str, name: str, data: tuple[Matrix, NDArray[np.int64]]
) -> None:
    version = publish(client, experiment_id, bundle_of(nan_logistic(*data), data[0]), name, signing_key=SIGNER)
    set_alias(client, name, CHAMPION, version)
    refusal = _refusal(lambda: load_alias(client, name, CHAMPION, FEATURES, keys=KEYS))
    assert refusal.reason is ModelLoadFailure.INVALID_PREDICTIONS
    assert "not finite" in refusal.message


def test_an_unreachable_tracking_server_fails_fast(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from mlflow import MlflowClient

    # mlflow retries HTTP 7 times with exponential backoff (minutes) by default
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    uri = f"http://127.0.0.1:{free_port()}"
    unreachable = MlflowClient(tracking_uri=uri, registry_uri=uri)
    started = time.monotonic()
    for read in (
        lambda: load_alias(unreachable, name, CHAMPION, FEATURES, keys=KEYS),
        lambda: load_version(unreachable, name, "1", FEATURES, keys=KEYS),
        lambda: resolve_alias(unreachable, name, CHAMPION),
        lambda: list_versions(unreachable, name),
    ):
        refusal = _refusal(read)
        assert refusal.reason is ModelLoadFailure.STORE_UNAVAILABLE
        assert uri in refusal.message
    assert time.monotonic() - started < 10
