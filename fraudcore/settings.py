"""The one settings object of fraudstream.

Every environment variable the project reads is a field here, named ``FRAUD_<FIELD>`` (plus the
standard ``MLFLOW_TRACKING_URI``). The entry point builds one frozen :class:`Settings` and passes it
down; nothing deeper reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "FRAUD_"

Port = Annotated[int, Field(ge=1, le=65535)]


def _xdg_dir(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable) or str(Path.home() / fallback)
    return Path(base) / "fraudstream"


class Settings(BaseSettings):
    """Configuration of every fraudstream component, read once from the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    data_dir: Path = Field(default_factory=lambda: _xdg_dir("XDG_DATA_HOME", ".local/share"))
    """Where the local infrastructure keeps its data, logs and pid files."""

    cache_dir: Path = Field(default_factory=lambda: _xdg_dir("XDG_CACHE_HOME", ".cache"))
    """Where downloaded artifacts (the Kafka broker jars) are cached between runs."""

    kafka_bootstrap: str | None = None
    """``host:port[,host:port…]`` of an existing Kafka cluster; unset: the local broker is used."""

    kafka_port: Port = 9092
    """Client port of the local broker."""

    kafka_controller_port: Port = 9093
    """KRaft controller port of the local broker."""

    kafka_version: str = Field(default="4.1.1", pattern=r"^4\.\d+\.\d+$")
    """Apache Kafka release the local broker is assembled from (4.x, from Maven Central)."""

    kafka_heap: str = Field(default="512m", pattern=r"^\d+[mMgG]$")
    """JVM heap of the local broker (``-Xmx``/``-Xms``)."""

    redis_url: str | None = None
    """URL of an existing Redis (``redis://[:password@]host:port/db``); unset: the local one."""

    redis_port: Port = 6379
    """Port of the local ``redis-server``."""

    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "FRAUD_MLFLOW_TRACKING_URI"),
    )
    """MLflow tracking server or store; unset: sqlite file + artifact folder under ``data_dir``."""

    mlflow_experiment: str = "fraudstream"
    """MLflow experiment the trainer logs its runs to."""

    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    """Prefix of every Kafka topic name (letters, digits, ``.``, ``_``, ``-``)."""

    startup_timeout_s: float = Field(default=60.0, gt=0)
    """How long ``up`` waits for each local service to become ready."""

    @field_validator("kafka_bootstrap", "redis_url", "mlflow_tracking_uri")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def kafka_is_local(self) -> bool:
        """Whether fraudstream starts the broker itself."""
        return self.kafka_bootstrap is None

    @property
    def redis_is_local(self) -> bool:
        """Whether fraudstream starts ``redis-server`` itself."""
        return self.redis_url is None

    @property
    def mlflow_is_embedded(self) -> bool:
        """Whether MLflow is the embedded sqlite store under ``data_dir``."""
        return self.mlflow_tracking_uri is None

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap servers every client connects to."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_connection_url(self) -> str:
        """The Redis URL every client connects to."""
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def mlflow_dir(self) -> Path:
        """Folder of the embedded MLflow store."""
        return self.data_dir / "mlflow"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI every client uses."""
        if self.mlflow_tracking_uri is not None:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Artifact folder of the embedded MLflow store."""
        return (self.mlflow_dir / "artifacts").resolve()


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; ``overrides`` win over it (used by the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
