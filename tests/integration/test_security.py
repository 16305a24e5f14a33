"""Security against real services: a Kafka broker whose only client listener is SASL_SSL (a CA and a
broker certificate made by the test, SCRAM users created at format time), a ``redis-server`` that
requires a password, the session's MLflow store; the whole pipeline runs over them and no secret
shows up in any output. An ``mlflow server`` with MLflow's basic auth takes the standard
``MLFLOW_TRACKING_USERNAME``/``_PASSWORD`` variables for status, registration and model loads."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.models import register as register_model
from chaos.mlflow_server import MlflowServer
from fraudcore.features.open_store import open_redis
from fraudcore.kafka_admin import TopicSpec, ensure_topics
from fraudcore.kafka_bulk_reading import BulkReader, KafkaReadError
from fraudcore.kafka_security import KafkaSecurityError, client_options
from fraudcore.local.health import check_kafka, check_redis
from fraudcore.local.kafka import KafkaBroker, SecuredListener
from fraudcore.local.redis_server import RedisServer
from fraudcore.mlflow_store import connect
from fraudcore.models import ModelLoadError, ModelLoadFailure, verification_keys
from fraudcore.models.signing import private_pem
from fraudcore.redis_auth import RedisAuthRefused
from fraudcore.settings import Settings, child_environment
from schemas.topics import Topics
from scorer.model_source import RegistrySource
from tests.integration.conftest import free_port
from tests.integration.kafka_tls import BrokerCertificates, make_certificates
from tests.integration.scorer_harness import Worker, http, payloads, read_topic, register, scorer_setup, train_bundle

pytestmark = pytest.mark.integration

SASL_USER = "fraudstream"
MLFLOW_ADMIN = "fraud-admin"
MLFLOW_CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


@dataclass(frozen=True)
class Secured:
    """Client settings for the secured services, and every secret they were set up with."""

    settings: Settings
    certs: BrokerCertificates
    secrets: tuple[str, ...]


def _secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def secured(services: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A SASL_SSL broker and a password-protected Redis, started for this module and stopped after it."""
    root = tmp_path_factory.mktemp("secured")
    kafka_password, broker_password = _secret("kafka-pw"), _secret("broker-pw")
    redis_password, store_password = _secret("redis-pw"), _secret("store-pw")
    certs = make_certificates(root / "certs", store_password)
    infra = Settings(
        data_dir=root / "infra",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        redis_port=free_port(),
        redis_password=redis_password,
    )
    users = {"broker": broker_password, SASL_USER: kafka_password}
    broker = KafkaBroker(infra, SecuredListener(certs.keystore, certs.truststore, store_password, users))
    redis_server = RedisServer(infra)
    client = Settings.model_validate(
        services.model_dump()
        | {
            "kafka_bootstrap": infra.bootstrap_servers,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": SASL_USER,
            "kafka_sasl_password": kafka_password,
            "kafka_ssl_cafile": certs.ca_pem,
            "redis_url": f"redis://127.0.0.1:{infra.redis_port}/0",
            "redis_password": redis_password,
        }
    )
    try:
        broker.start()
        redis_server.start()
        yield Secured(client, certs, (kafka_password, broker_password, redis_password, store_password))
    finally:
        redis_server.stop()
        broker.stop()


def _env(settings: Settings, **replaced: str | None) -> dict[str, str]:
    """A child's environment for ``settings`` alone; ``replaced`` variables are set (or removed: None)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FRAUD_")}
    env |= child_environment(settings) | {"MLFLOW_TRACKING_URI": settings.tracking_uri}
    for name, value in replaced.items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    return env


def _fraudstream(env: dict[str, str], *argv: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fraudstream", *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)


def _assert_no_secret(secured: Secured, *outputs: str) -> None:
    for output in outputs:
        for secret in secured.secrets:
            assert secret not in output, "a secret was written to the output"


def test_the_pipeline_runs_over_sasl_ssl_and_a_redis_password_without_logging_a_secret(
    secured: Secured, unique: str, tmp_path: Path
) -> None:
    plain = Settings.model_validate(secured.settings.model_dump() | {"kafka_sasl_mechanism": "PLAIN"})
    setup = scorer_setup(plain, unique, tmp_path, partitions=2)  # creates the topics over SASL_SSL
    settings, topics = setup.settings, Topics.with_prefix(setup.settings.topic_prefix)
    register(setup, train_bundle(seed=1))
    env = _env(settings, FRAUD_DATA_DIR=str(tmp_path / "cli"))

    status = _fraudstream(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    produced = _fraudstream(env, "produce", "--count", "300", "--seed", "11", "--customers", "60", "--days", "20")
    assert produced.returncode == 0, produced.stderr
    transaction_ids = {tx["transaction_id"] for tx in payloads(read_topic(settings, topics.transactions))}
    assert len(transaction_ids) == 300

    security = {key: value for key, value in env.items() if key.startswith(("FRAUD_KAFKA_S", "FRAUD_REDIS_PASSWORD"))}
    # PLAIN sends the password itself, and aiokafka's debug log shows every request: the hardest case
    worker = Worker(setup, tmp_path / "worker.log", log_level="debug", **security)
    try:
        worker.wait_ready()
        verdicts = _wait_for_verdicts(settings, topics.verdicts, len(transaction_ids), worker)
        challenger = register(setup, train_bundle(seed=2), champion=False)
        promoted = _fraudstream(env, "model", "promote", challenger)  # the reload event goes over SASL_SSL
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        _wait_for_champion(worker, challenger)
    finally:
        exit_code = worker.stop()
    assert exit_code == 0, worker.log()
    assert {verdict["transaction_id"] for verdict in payloads(verdicts)} == transaction_ids
    assert {verdict["model_version"] for verdict in payloads(verdicts)} == {"1"}

    unauthenticated = _fraudstream(_env(settings, FRAUD_REDIS_PASSWORD=None), "score", timeout_s=120)
    assert unauthenticated.returncode == 3, unauthenticated.stdout + unauthenticated.stderr
    assert "refused the connection's credentials" in unauthenticated.stderr
    assert "FRAUD_REDIS_PASSWORD" in unauthenticated.stderr

    events = payloads(read_topic(settings, topics.model_events))
    assert any(event["kind"] == "promoted" and event["model_version"] == challenger for event in events)
    full_log = worker.log_path.read_text(errors="replace")
    assert "scorer: model" in full_log  # the worker's whole log, debug level
    assert "model-event watch failed" not in full_log
    _assert_no_secret(
        secured,
        full_log,
        status.stdout + status.stderr,
        produced.stdout + produced.stderr,
        promoted.stdout + promoted.stderr,
        unauthenticated.stdout + unauthenticated.stderr,
        repr(settings),
        str(settings.model_dump()),
    )


def _wait_for_verdicts(settings: Settings, topic: str, count: int, worker: Worker) -> list[Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        records = read_topic(settings, topic)  # read over SASL_SSL
        if len({record.key for record in records}) >= count:
            return list(records)
        assert worker.process.poll() is None, worker.log()
        time.sleep(1.0)
    raise AssertionError(f"fewer than {count} verdicts after 120 s\n{worker.log()}")


def _wait_for_champion(worker: Worker, version: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = http(worker.url("/model"))
        if status == 200 and json.loads(body)["champion"]["version"] == version:
            return
        time.sleep(0.5)
    raise AssertionError(f"the worker did not swap to version {version}\n{worker.log()}")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_every_sasl_mechanism_authenticates(secured: Secured, mechanism: str) -> None:
    settings = Settings.model_validate(secured.settings.model_dump() | {"kafka_sasl_mechanism": mechanism})
    assert check_kafka(settings) == "1 broker"


def test_a_plaintext_client_and_a_wrong_password_are_refused_with_clear_errors(
    secured: Secured, tmp_path: Path
) -> None:
    settings = secured.settings
    plain = _env(
        settings,
        FRAUD_DATA_DIR=str(tmp_path),
        FRAUD_KAFKA_SECURITY_PROTOCOL=None,
        FRAUD_KAFKA_SASL_MECHANISM=None,
        FRAUD_KAFKA_SASL_USERNAME=None,
        FRAUD_KAFKA_SASL_PASSWORD=None,
        FRAUD_KAFKA_SSL_CAFILE=None,
    )
    refused = _fraudstream(plain, "produce", "--count", "5", "--quiet")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "FRAUD_KAFKA_SECURITY_PROTOCOL (currently PLAINTEXT)" in refused.stderr

    wrong = _secret("wrong-pw")
    denied = _fraudstream(
        _env(settings, FRAUD_DATA_DIR=str(tmp_path), FRAUD_KAFKA_SASL_PASSWORD=wrong), "produce", "--count", "5"
    )
    assert denied.returncode == 3, denied.stdout + denied.stderr
    assert f"refused the SASL credentials of user '{SASL_USER}'" in denied.stderr
    assert "FRAUD_KAFKA_SASL_PASSWORD" in denied.stderr
    assert wrong not in denied.stdout + denied.stderr
    not_a_ca = _env(settings, FRAUD_DATA_DIR=str(tmp_path), FRAUD_KAFKA_SSL_CAFILE=str(secured.certs.keystore))
    unusable = _fraudstream(not_a_ca, "produce", "--count", "5")
    assert unusable.returncode == 3, unusable.stdout + unusable.stderr
    assert "cannot build the Kafka TLS context from FRAUD_KAFKA_SSL_CAFILE" in unusable.stderr
    outputs = (refused, denied, unusable)
    _assert_no_secret(secured, *(done.stdout + done.stderr for done in outputs))


def test_tls_is_verified_and_never_downgraded(secured: Secured, services: Settings) -> None:
    untrusted = Settings.model_validate(secured.settings.model_dump() | {"kafka_ssl_cafile": None})
    with pytest.raises(KafkaConnectionError, match=r"not trusted.*FRAUD_KAFKA_SSL_CAFILE"):
        check_kafka(untrusted)
    towards_plaintext = Settings.model_validate(
        secured.settings.model_dump() | {"kafka_bootstrap": services.bootstrap_servers}
    )
    with pytest.raises(KafkaConnectionError, match="FRAUD_KAFKA_SECURITY_PROTOCOL"):
        check_kafka(towards_plaintext)  # a TLS client does not fall back to the plaintext listener


def _bulk_read(settings: Settings, topic: str) -> list[bytes]:
    values: list[bytes] = []
    with BulkReader(settings, stall_s=20) as reader:
        reader.assign(reader.ranges([topic], required=True))
        deadline = time.monotonic() + 60
        while not reader.done and time.monotonic() < deadline:
            values += [value for batch in reader.read() for value in batch.values if value is not None]
    return values


def test_bulk_reading_over_sasl_ssl_trusts_the_cafile_or_the_openssl_variables(
    secured: Secured, unique: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The trainer's and the backtest's reader (librdkafka) verifies the broker as the aiokafka clients
    do: against FRAUD_KAFKA_SSL_CAFILE, else the CA file SSL_CERT_FILE names; never unverified."""
    settings, topic = secured.settings, f"{unique}.bulk"

    async def produce() -> None:
        await ensure_topics(settings, [TopicSpec(topic, partitions=2)])
        producer = AIOKafkaProducer(**client_options(settings), acks="all")
        await producer.start()
        try:
            for i in range(50):
                await producer.send(topic, b"%d" % i, partition=i % 2)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(produce())
    expected = sorted(b"%d" % i for i in range(50))
    assert sorted(_bulk_read(settings, topic)) == expected
    by_variable = Settings.model_validate(settings.model_dump() | {"kafka_ssl_cafile": None})
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(secured.certs.ca_pem))
    assert sorted(_bulk_read(by_variable, topic)) == expected
    monkeypatch.setenv("SSL_CERT_FILE", str(secured.certs.ca_pem.parent / "missing.pem"))
    with pytest.raises(KafkaSecurityError, match="SSL_CERT_FILE"):
        _bulk_read(by_variable, topic)
    other = make_certificates(tmp_path / "other", "other-store-pw")  # a CA that did not sign the broker's
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_pem))
    with pytest.raises(KafkaReadError):
        _bulk_read(by_variable, topic)


async def test_redis_refuses_clients_without_the_password(secured: Secured) -> None:
    settings = secured.settings
    client = open_redis(settings)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
    for password in (None, _secret("wrong-pw")):
        anonymous = Settings.model_validate(settings.model_dump() | {"redis_password": password})
        with pytest.raises(RedisAuthRefused, match="FRAUD_REDIS_PASSWORD") as refused:
            await asyncio.to_thread(check_redis, anonymous)
        _assert_no_secret(secured, str(refused.value))


async def test_an_acl_user_of_the_local_redis_server(tmp_path: Path) -> None:
    password = _secret("acl-pw")
    settings = Settings(data_dir=tmp_path, redis_port=free_port(), redis_username="features", redis_password=password)
    server = RedisServer(settings)
    server.start()
    try:
        assert (server.home / "auth.conf").stat().st_mode & 0o077 == 0  # the password file is the owner's only
        client = open_redis(settings)
        try:
            assert await client.ping()
            assert (await client.acl_whoami()) in (b"features", "features")
        finally:
            await client.aclose()
        as_default = settings.model_copy(update={"redis_username": None})
        with pytest.raises(RedisAuthRefused):
            await asyncio.to_thread(check_redis, as_default)  # the default user is switched off
    finally:
        server.stop()


@dataclass(frozen=True)
class AuthMlflow:
    """A running ``mlflow server --app-name basic-auth`` and its admin's password."""

    server: MlflowServer
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    def credentials(self, password: str | None) -> dict[str, str | None]:
        """The MLflow client variables for the admin with ``password`` (None: no credentials at all)."""
        if password is None:
            return dict.fromkeys(MLFLOW_CREDENTIALS)
        return {"MLFLOW_TRACKING_USERNAME": MLFLOW_ADMIN, "MLFLOW_TRACKING_PASSWORD": password}


@pytest.fixture(scope="module")
def mlflow_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthMlflow]:
    """A tracking server with MLflow's basic auth, a generated admin password and no anonymous access."""
    home = tmp_path_factory.mktemp("mlflow-auth")
    password = _secret("mlflow-pw")
    config = home / "auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{home / 'auth.db'}\n"
        f"admin_username = {MLFLOW_ADMIN}\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    config.chmod(0o600)
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_FLASK_SERVER_SECRET_KEY": _secret("flask-key")}
    server = MlflowServer(home, app_name="basic-auth", env=env)
    server.start()
    try:
        yield AuthMlflow(server, password)
    finally:
        server.stop()


def test_status_checks_the_mlflow_credentials_without_printing_them(
    services: Settings, mlflow_auth: AuthMlflow, tmp_path: Path
) -> None:
    wrong = _secret("wrong-pw")
    secrets = (mlflow_auth.password, wrong)

    def status(password: str | None) -> subprocess.CompletedProcess[str]:
        replaced = {"FRAUD_DATA_DIR": str(tmp_path), "MLFLOW_TRACKING_URI": mlflow_auth.url}
        return _fraudstream(_env(services, **replaced, **mlflow_auth.credentials(password)), "status")

    healthy = status(mlflow_auth.password)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert f"mlflow healthy  external  {mlflow_auth.url}" in healthy.stdout
    denied = status(wrong)  # /health answers anyone: only an authenticated request sees the wrong password
    assert denied.returncode == 1, denied.stdout + denied.stderr
    assert f"refused the credentials of user '{MLFLOW_ADMIN}'" in denied.stdout
    assert "HTTP 401" in denied.stdout
    assert "MLFLOW_TRACKING_PASSWORD" in denied.stdout
    anonymous = status(None)
    assert anonymous.returncode == 1, anonymous.stdout + anonymous.stderr
    assert "requires credentials and none are set" in anonymous.stdout
    assert "MLFLOW_TRACKING_USERNAME" in anonymous.stdout
    for done in (healthy, denied, anonymous):
        assert "kafka  healthy" in done.stdout
        assert "redis  healthy" in done.stdout
        for secret in secrets:
            assert secret not in done.stdout + done.stderr, "a secret was written to the output"


def test_a_model_registered_through_the_auth_server_loads_only_with_credentials(
    services: Settings,
    mlflow_auth: AuthMlflow,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    settings = Settings.model_validate(
        services.model_dump()
        | {
            "mlflow_tracking_uri": mlflow_auth.url,
            "model_name": f"fraud-{unique}",
            "data_dir": tmp_path,
            "model_signing_key": private_pem(Ed25519PrivateKey.generate()),  # a tracking server: keys are required
        }
    )
    bundle = train_bundle(seed=1)
    wrong = _secret("wrong-pw")

    def use(password: str | None) -> RegistrySource:
        for name, value in mlflow_auth.credentials(password).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return RegistrySource(
            lambda: connect(settings), settings.model_name, bundle.feature_names, keys=verification_keys(settings)
        )

    try:
        use(mlflow_auth.password)
        version = register_model(settings, bundle, champion=True)  # the run, the artifact and the alias
        source = use(mlflow_auth.password)
        assert source.resolve("champion") == version
        loaded = source.load(version)
        assert (loaded.version, loaded.bundle.feature_names) == (version, bundle.feature_names)

        refusals = []
        for password in (wrong, None):
            with pytest.raises(ModelLoadError) as refused:
                use(password).load(version)
            assert refused.value.reason is ModelLoadFailure.STORE_UNAVAILABLE
            assert "401" in refused.value.message
            assert "not authenticated" in refused.value.message
            refusals.append(str(refused.value))
        with pytest.raises(ModelLoadError) as unresolved:
            use(None).resolve("champion")
        assert unresolved.value.reason is ModelLoadFailure.STORE_UNAVAILABLE
        refusals.append(str(unresolved.value))
    finally:
        connect(services)  # the module-level MLflow API points at the shared test store again
    captured = capfd.readouterr()
    server_log = mlflow_auth.server.log_path.read_text(errors="replace")
    assert "/api/2.0/mlflow/model-versions/get" in server_log
    for output in (*refusals, caplog.text, captured.out, captured.err, server_log):
        for secret in (mlflow_auth.password, wrong):
            assert secret not in output, "a secret was written to the output"
