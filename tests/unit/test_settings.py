"""Settings: one prefix, strict validation, derived endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fraudcore.settings import Settings


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
