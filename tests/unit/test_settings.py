"""Settings: one prefix, strict validation, derived endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fraudcore.settings import Settings, UnknownVariables, child_environment, load_settings, unknown_variables


def test_defaults_point_at_the_local_stack(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.kafka_is_local
    assert settings.redis_is_local
    assert settings.mlflow_is_embedded
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.redis_connection_url == "redis://127.0.0.1:6379/0"
    assert settings.tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert settings.artifact_root == (tmp_path / "mlflow" / "artifacts").resolve()


def test_environment_variables_use_one_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_KAFKA_BOOTSTRAP", "broker-a:9092,broker-b:9092")
    monkeypatch.setenv("FRAUD_REDIS_URL", "redis://cache:6380/2")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("FRAUD_TOPIC_PREFIX", "prod.")
    settings = Settings()
    assert not settings.kafka_is_local
    assert settings.bootstrap_servers == "broker-a:9092,broker-b:9092"
    assert not settings.redis_is_local
    assert settings.redis_connection_url == "redis://cache:6380/2"
    assert not settings.mlflow_is_embedded
    assert settings.tracking_uri == "http://mlflow:5000"
    assert settings.topic_prefix == "prod."


def test_blank_external_endpoints_mean_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_KAFKA_BOOTSTRAP", "  ")
    assert Settings().kafka_is_local


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRAUD_KAFKA_PORT", "70000"),
        ("FRAUD_KAFKA_PORT", "abc"),
        ("FRAUD_KAFKA_VERSION", "3.9.0"),
        ("FRAUD_KAFKA_HEAP", "lots"),
        ("FRAUD_TOPIC_PREFIX", "bad prefix/"),
        ("FRAUD_STARTUP_TIMEOUT_S", "0"),
    ],
)
def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ValidationError):
        settings.kafka_port = 1  # type: ignore[misc]


def _secured(tmp_path: Path, **fields: object) -> Settings:
    return Settings(data_dir=tmp_path, kafka_bootstrap="broker:9093", **fields)  # type: ignore[arg-type]


def test_derived_settings_are_validated_and_keep_the_rest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path, redis_password="s3cret", topic_prefix="a.")
    monkeypatch.setenv("FRAUD_TOPIC_PREFIX", "from-the-environment.")

    derived = base.derived(redis_port=7001, topic_prefix="b.")

    assert (derived.redis_port, derived.topic_prefix, derived.data_dir) == (7001, "b.", tmp_path)
    assert derived.redis_password is not None
    assert derived.redis_password.get_secret_value() == "s3cret"
    with pytest.raises(ValidationError, match="redis_port"):
        base.derived(redis_port=70_000)


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "FRAUD_KAFKA_SASL_USERNAME and FRAUD_KAFKA_SASL_PASSWORD"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "scorer"}, "FRAUD_KAFKA_SASL_PASSWORD"),
        ({"kafka_sasl_username": "scorer", "kafka_sasl_password": "pw"}, "FRAUD_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
        ({"kafka_ssl_cafile": "ca.pem"}, "FRAUD_KAFKA_SSL_CAFILE set but FRAUD_KAFKA_SECURITY_PROTOCOL"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "c.pem"}, "set both or neither"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_key_password": "pw"}, "needs FRAUD_KAFKA_SSL_KEYFILE"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "absent.pem"}, "FRAUD_KAFKA_SSL_CAFILE=absent.pem"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
        ({"redis_username": "scorer"}, "FRAUD_REDIS_USERNAME needs FRAUD_REDIS_PASSWORD"),
        ({"redis_url": "redis://:a@cache:6379/0", "redis_password": "b"}, "in FRAUD_REDIS_PASSWORD"),
    ],
)
def test_incomplete_security_is_refused_naming_the_variable(
    tmp_path: Path, fields: dict[str, object], names: str
) -> None:
    with pytest.raises(ValidationError, match=names):
        _secured(tmp_path, **fields)


def test_security_needs_an_external_broker(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs FRAUD_KAFKA_BOOTSTRAP"):
        Settings(data_dir=tmp_path, kafka_security_protocol="SSL")


def test_tls_without_a_ca_file_uses_the_system_trust_store(tmp_path: Path) -> None:
    settings = _secured(tmp_path, kafka_security_protocol="SSL")
    assert settings.kafka_ssl_cafile is None


def test_security_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read by the settings")
    monkeypatch.setenv("FRAUD_KAFKA_BOOTSTRAP", "broker:9093")
    monkeypatch.setenv("FRAUD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("FRAUD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("FRAUD_KAFKA_SASL_USERNAME", "scorer")
    monkeypatch.setenv("FRAUD_KAFKA_SASL_PASSWORD", "kafka-Secret-1")
    monkeypatch.setenv("FRAUD_KAFKA_SSL_CAFILE", str(ca))
    monkeypatch.setenv("FRAUD_REDIS_USERNAME", "features")
    monkeypatch.setenv("FRAUD_REDIS_PASSWORD", "redis-Secret-2")
    settings = Settings()
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-256"
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "kafka-Secret-1"
    assert settings.kafka_ssl_cafile == ca
    assert settings.redis_username == "features"


def test_secrets_never_show_in_repr_or_dumps(tmp_path: Path) -> None:
    settings = _secured(
        tmp_path,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="scorer",
        kafka_sasl_password="kafka-Secret-1",
        redis_url="redis://features:redis-Secret-2@cache:6379/0",
    )
    shown = [repr(settings), str(settings), str(settings.model_dump()), settings.model_dump_json()]
    for text in shown:
        assert "kafka-Secret-1" not in text
        assert "redis-Secret-2" not in text
    assert settings.redis_connection_url == "redis://features:redis-Secret-2@cache:6379/0"


def test_a_child_environment_rebuilds_the_settings_secrets_included(tmp_path: Path) -> None:
    settings = _secured(
        tmp_path,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="scorer",
        kafka_sasl_password="kafka-Secret-1",
        redis_password="redis-Secret-2",
        topic_prefix="p.",
    )
    env = child_environment(settings, topic_prefix="q.")
    assert env["FRAUD_KAFKA_SASL_PASSWORD"] == "kafka-Secret-1"
    assert env["FRAUD_REDIS_PASSWORD"] == "redis-Secret-2"
    assert env["FRAUD_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["FRAUD_KAFKA_SASL_MECHANISM"] == "PLAIN"
    assert "FRAUD_MLFLOW_TRACKING_URI" not in env
    rebuilt = Settings.model_validate({key.removeprefix("FRAUD_").lower(): value for key, value in env.items()})
    assert rebuilt == settings.model_copy(update={"topic_prefix": "q."})


def test_blank_secrets_and_urls_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_REDIS_URL", " ")
    monkeypatch.setenv("FRAUD_REDIS_PASSWORD", "")
    settings = Settings()
    assert settings.redis_is_local
    assert settings.redis_password is None


def test_the_trainer_cache_is_off_unless_a_folder_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings().trainer_cache_dir is None
    monkeypatch.setenv("FRAUD_TRAINER_CACHE_DIR", " ")
    assert Settings().trainer_cache_dir is None
    monkeypatch.setenv("FRAUD_TRAINER_CACHE_DIR", str(tmp_path))
    assert Settings().trainer_cache_dir == tmp_path


def test_the_readme_documents_every_variable() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [f"FRAUD_{name.upper()}"]
        assert any(f"`{alias}`" in readme for alias in aliases), f"README lacks {aliases[0]}"


def test_unknown_variables_are_named_and_known_ones_pass() -> None:
    environ = {"FRAUD_REDIS_PORT": "1", "FRAUD_redis_port": "1", "FRAUD_KAFKA_PROT": "1", "PATH": "/bin", "FRAUDX": "1"}
    assert unknown_variables(environ) == ["FRAUD_KAFKA_PROT: did you mean FRAUD_KAFKA_PORT?"]
    assert unknown_variables({"MLFLOW_TRACKING_URI": "x", "FRAUD_MLFLOW_TRACKING_URI": "x"}) == []


def test_loading_refuses_an_unknown_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_TRAINER_TRAIN_DAYZ", "3")
    with pytest.raises(UnknownVariables, match="FRAUD_TRAINER_TRAIN_DAYZ: did you mean FRAUD_TRAINER_TRAIN_DAYS"):
        load_settings()
