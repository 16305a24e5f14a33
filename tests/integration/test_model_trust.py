"""Who may put a model in front of a running scorer: only a trainer holding the signing key.

Against a real ``mlflow server`` (the registry anyone with MLflow access can write to), a running
``fraudstream score`` worker, Kafka and Redis: versions registered through the MLflow API without the
key are refused with their reason while the signed champion keeps serving; the worker process never
unpickles anything (an audit hook on ``pickle.find_class`` in it); and a signed version is a real
MLflow model that ``mlflow.pyfunc`` and ``mlflow models serve`` use.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sklearn.tree import DecisionTreeClassifier

from chaos.mlflow_server import MlflowServer
from fraudcore.features.definition import FEATURE_NAMES
from fraudcore.mlflow_store import connect, ensure_experiment
from fraudcore.models import CHAMPION, ModelBundle, set_alias
from fraudcore.models.registry import TAG_ARTIFACT_DIGEST, TAG_SIGNATURE
from fraudcore.models.signing import private_pem
from fraudcore.settings import Settings
from producer.simulator import SimulationParams
from schemas.events import Transaction
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import (
    ScorerSetup,
    Worker,
    http,
    payloads,
    produce,
    read_topic,
    register,
    scorer_setup,
    simulated,
    train_bundle,
    wait_for_records,
)

AUDIT_PATH = Path(__file__).parent / "pickle_audit"


class TouchOnLoad:
    """A pickle that creates ``marker`` when it is unpickled: what a hostile model file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (Path.touch, (str(self.marker),))


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A plain tracking server: anyone who reaches it may register models."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _setup(services: Settings, server: MlflowServer, unique: str, tmp_path: Path) -> ScorerSetup:
    setup = scorer_setup(services, unique, tmp_path, partitions=1)
    signed = setup.settings.derived(
        mlflow_tracking_uri=server.url, model_signing_key=private_pem(Ed25519PrivateKey.generate())
    )
    return ScorerSetup(signed, unique, setup.data_dir)


def _refresh(worker: Worker, token: str) -> dict[str, Any]:
    status, body = http(worker.url("/reload"), b"", timeout_s=60, token=token)
    assert status == 503, body
    [champion] = [outcome for outcome in json.loads(body)["refreshes"] if outcome["alias"] == CHAMPION]
    return dict(champion)


def _served_verdicts(setup: ScorerSetup, worker: Worker, batch: list[Transaction], seen: int) -> set[str]:
    produce(setup.settings, batch)
    records = wait_for_records(setup.settings, setup.topics.verdicts, seen + len(batch), 90, worker)
    return {verdict["model_version"] for verdict in payloads(records[seen:])}


def _foreign_sklearn_version(setup: ScorerSetup, bundle: ModelBundle) -> str:
    """A harmless, valid model registered through MLflow's own API by someone without the key."""
    import mlflow
    import mlflow.sklearn

    labels = np.arange(len(bundle.reference)) % 2  # any two classes: it only has to be a valid model
    estimator = DecisionTreeClassifier(max_depth=3, random_state=0).fit(bundle.reference, labels)
    client = connect(setup.settings)
    mlflow.set_experiment(experiment_id=ensure_experiment(setup.settings, client))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            serialization_format="skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],  # whatever its MLmodel says: the scorer never asks
            pip_requirements=["scikit-learn"],
            registered_model_name=setup.settings.model_name,
            input_example=bundle.reference[:2],
        )
    assert info.registered_model_version is not None
    return str(info.registered_model_version)


def _pickle_version(setup: ScorerSetup, signed_version: str, marker: Path) -> str:
    """A version whose files are the signed version's with its model file replaced by a hostile pickle,
    carrying a correct digest tag and the signed version's signature tag (what an attacker can copy)."""
    from fraudcore.models.artifact import ESTIMATOR_FILE, artifact_digest

    client = connect(setup.settings)
    signed = client.get_model_version(setup.settings.model_name, signed_version)
    run_id = client.create_run(ensure_experiment(setup.settings, client)).info.run_id
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(client.download_artifacts(str(signed.run_id), "model", scratch))
        (folder / ESTIMATOR_FILE).write_bytes(pickle.dumps(TouchOnLoad(marker)))
        client.log_artifacts(run_id, str(folder), "model")
        digest = artifact_digest(folder)
    run = client.get_run(run_id)
    version = client.create_model_version(
        setup.settings.model_name,
        source=f"{run.info.artifact_uri}/model",
        run_id=run_id,
        tags={TAG_ARTIFACT_DIGEST: digest, TAG_SIGNATURE: signed.tags[TAG_SIGNATURE]},
    )
    return str(version.version)


def test_versions_registered_without_the_key_never_serve_and_the_worker_never_unpickles(
    services: Settings, mlflow_server: MlflowServer, unique: str, tmp_path: Path
) -> None:
    setup = _setup(services, mlflow_server, unique, tmp_path)
    bundle = train_bundle(seed=1)
    signed = register(setup, bundle)
    transactions, _ = simulated(SimulationParams(seed=5, n_customers=100, n_terminals=200, days=3), count=90)
    batches = [transactions[0:30], transactions[30:60], transactions[60:90]]
    audit_log, marker = tmp_path / "pickle-audit.log", tmp_path / "payload-ran"
    worker = Worker(
        setup,
        tmp_path / "worker.log",
        PYTHONPATH=f"{AUDIT_PATH}",
        PICKLE_AUDIT_LOG=str(audit_log),
        FRAUD_MODEL_CHECK_INTERVAL_S="3600",  # the test asks for each refresh (POST /reload)
    )
    try:
        worker.wait_ready()
        assert _served_verdicts(setup, worker, batches[0], 0) == {signed}

        foreign = _foreign_sklearn_version(setup, bundle)
        set_alias(connect(setup.settings), setup.settings.model_name, CHAMPION, foreign)
        refused = _refresh(worker, setup.api_token)
        assert (refused["version"], refused["swapped"]) == (foreign, False)
        assert refused["error"]["reason"] == "unsigned"
        assert "not registered by a fraudstream trainer" in refused["error"]["message"]
        assert _served_verdicts(setup, worker, batches[1], 30) == {signed}

        hostile = _pickle_version(setup, signed, marker)
        set_alias(connect(setup.settings), setup.settings.model_name, CHAMPION, hostile)
        refused = _refresh(worker, setup.api_token)
        assert (refused["version"], refused["error"]["reason"]) == (hostile, "bad_signature")
        assert "nothing in it was read" in refused["error"]["message"]
        assert _served_verdicts(setup, worker, batches[2], 60) == {signed}
        assert not marker.exists(), "the hostile pickle ran in the worker"

        metrics = http(worker.url("/metrics"))[1].decode()
        status, model = http(worker.url("/model"))
    finally:
        assert worker.stop() == 0, worker.log()

    assert 'fraudstream_scorer_model_load_failures_total{reason="unsigned"} 1.0' in metrics
    assert 'fraudstream_scorer_model_load_failures_total{reason="bad_signature"} 1.0' in metrics
    assert (status, json.loads(model)["champion"]["version"]) == (200, signed)
    events = [e for e in payloads(read_topic(setup.settings, setup.topics.model_events)) if e["kind"] == "load_failed"]
    for version, reason in ((foreign, "unsigned"), (hostile, "bad_signature")):
        assert any(e["model_version"] == version and f"{reason}:" in e["message"] for e in events), events
    audit = audit_log.read_text().splitlines()
    assert audit == [f"installed in pid {worker.process.pid}"], audit  # hooked, and not one class unpickled
    pickle.loads(pickle.dumps(TouchOnLoad(marker)))  # the payload was live: unpickling it does run it
    assert marker.exists()


def test_a_signed_version_is_a_model_that_pyfunc_and_mlflow_models_serve_use(
    services: Settings, mlflow_server: MlflowServer, unique: str, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    setup = _setup(services, mlflow_server, unique, tmp_path)
    bundle = train_bundle(seed=2)
    version = register(setup, bundle)
    rows = bundle.reference[:4]
    expected = bundle.estimator.predict_proba(rows)

    connect(setup.settings)
    model = mlflow.pyfunc.load_model(f"models:/{setup.settings.model_name}@{CHAMPION}")
    np.testing.assert_allclose(np.asarray(model.predict(rows)), expected)

    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        serving = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{setup.settings.model_name}/{version}",
             "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)],
            env=_environ() | {"MLFLOW_TRACKING_URI": mlflow_server.url},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        answer = _invoke(port, {"inputs": rows.tolist()}, serving, log_path, timeout_s=120)
    finally:
        _stop(serving)
    np.testing.assert_allclose(np.asarray(answer["predictions"]), expected)
    assert len(FEATURE_NAMES) == rows.shape[1]


def _environ() -> dict[str, str]:
    import os

    environ = {key: value for key, value in os.environ.items() if not key.startswith("FRAUD_")}
    # it runs `uvicorn` by name: this interpreter's scripts first on the PATH
    return environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"}


def _invoke(
    port: int, body: dict[str, Any], serving: subprocess.Popen[bytes], log_path: Path, timeout_s: float
) -> dict[str, Any]:
    """POST /invocations once the server answers (bounded wait)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if serving.poll() is not None:
            raise AssertionError(f"mlflow models serve exited with {serving.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return dict(json.loads(answer.read()))
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow models serve did not answer within {timeout_s} s:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    import os
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
