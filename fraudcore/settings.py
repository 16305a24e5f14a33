"""The one settings object of fraudstream.

Every environment variable the project reads is a field here, named ``FRAUD_<FIELD>`` (plus the
standard ``MLFLOW_TRACKING_URI``). The entry point builds one frozen :class:`Settings` and passes it
down; nothing deeper reads the environment.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudcore.model_kind import ModelKind

__all__ = [
    "ENV_PREFIX",
    "KafkaSaslMechanism",
    "KafkaSecurityProtocol",
    "Settings",
    "UnknownVariables",
    "child_environment",
    "load_settings",
    "unknown_variables",
]

ENV_PREFIX = "FRAUD_"

Port = Annotated[int, Field(ge=1, le=65535)]

_MIN_API_TOKEN_LENGTH = 16
_API_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750's ``b64token``: what an ``Authorization: Bearer`` header can carry."""


def _xdg_dir(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable) or str(Path.home() / fallback)
    return Path(base) / "fraudstream"


class KafkaSecurityProtocol(StrEnum):
    """How Kafka clients talk to the brokers (Kafka's ``security.protocol``)."""

    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_tls(self) -> bool:
        return self in (KafkaSecurityProtocol.SSL, KafkaSecurityProtocol.SASL_SSL)

    @property
    def uses_sasl(self) -> bool:
        return self in (KafkaSecurityProtocol.SASL_PLAINTEXT, KafkaSecurityProtocol.SASL_SSL)


class KafkaSaslMechanism(StrEnum):
    """SASL mechanisms fraudstream's Kafka clients support."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


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

    kafka_security_protocol: KafkaSecurityProtocol = KafkaSecurityProtocol.PLAINTEXT
    """How every Kafka client connects: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``."""

    kafka_sasl_mechanism: KafkaSaslMechanism = KafkaSaslMechanism.SCRAM_SHA_512
    """SASL mechanism (``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``) when the protocol is SASL_*."""

    kafka_sasl_username: str | None = None
    """SASL user name (required with SASL_PLAINTEXT / SASL_SSL)."""

    kafka_sasl_password: SecretStr | None = None
    """SASL password (required with a SASL user name; never logged)."""

    kafka_ssl_cafile: Path | None = None
    """PEM file of the CAs that sign the brokers' certificates; unset: the system trust store."""

    kafka_ssl_certfile: Path | None = None
    """PEM client certificate (chain) for TLS client authentication; needs ``FRAUD_KAFKA_SSL_KEYFILE``."""

    kafka_ssl_keyfile: Path | None = None
    """PEM private key of the client certificate."""

    kafka_ssl_key_password: SecretStr | None = None
    """Password of an encrypted ``FRAUD_KAFKA_SSL_KEYFILE`` (never logged)."""

    redis_url: SecretStr | None = None
    """URL of an existing Redis (``redis[s]://[[user]:password@]host:port/db``); unset: the local one.
    A secret: it may hold the password."""

    redis_username: str | None = None
    """Redis ACL user fraudstream authenticates as (needs ``FRAUD_REDIS_PASSWORD``); unset: ``default``."""

    redis_password: SecretStr | None = None
    """Password fraudstream authenticates to Redis with (``requirepass`` or the ACL user's); the local
    ``redis-server`` is started requiring it. Never logged."""

    redis_port: Port = 6379
    """Port of the local ``redis-server``."""

    redis_cluster: bool = False
    """``FRAUD_REDIS_URL`` is a node of a Redis Cluster (the others are discovered from it)."""

    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "FRAUD_MLFLOW_TRACKING_URI"),
    )
    """MLflow tracking server or store; unset: sqlite file + artifact folder under ``data_dir``."""

    mlflow_experiment: str = "fraudstream"
    """MLflow experiment the trainer logs its runs to."""

    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    """Prefix of every Kafka topic name (letters, digits, ``.``, ``_``, ``-``)."""

    topic_partitions: int = Field(default=3, ge=1, le=1024)
    """Partitions of each fraudstream topic when fraudstream creates it (the scorer's parallelism)."""

    model_name: str = Field(default="fraud", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    """Registered MLflow model the scorer serves (alias ``champion``) and the trainer registers."""

    model_signing_key: SecretStr | None = None
    """Ed25519 private key the trainer signs each registered model version with: PEM text (PKCS#8,
    ``-----BEGIN PRIVATE KEY-----``) or the path of a PEM file (keep it mode 0600). Needed by trainers
    only, never by scorers or the registry; never logged. Unset with the embedded MLflow store:
    ``<data_dir>/keys/model-signing.pem``, created on first use; unset with a tracking server: the
    trainer refuses to start. ``fraudstream model keygen`` creates a pair."""

    model_verify_keys: str | None = None
    """Ed25519 public keys a scorer accepts model versions signed by: PEM text of one or more keys
    (``-----BEGIN PUBLIC KEY-----`` blocks, one after the other) or the path of a PEM file holding them.
    List the old and the new key while rotating. The public half of ``FRAUD_MODEL_SIGNING_KEY`` is
    accepted too. Unset with the embedded store: its key pair's; unset with a tracking server and no
    signing key: the scorer refuses to start."""

    redis_namespace: str = Field(default="fs", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    """Prefix of every online-feature key in Redis (a separate namespace isolates a backtest)."""

    scorer_group: str = Field(default="fraudstream-scorer", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    """Consumer group (Faust app id) the scorer workers share."""

    scorer_batch_size: int = Field(default=500, ge=1, le=10_000)
    """Most transactions scored in one micro-batch (its verdicts are sent together, its offsets committed after)."""

    scorer_chunk_size: int = Field(default=125, ge=1, le=10_000)
    """Transactions per chunk of a micro-batch: on standalone Redis the next chunk's features are counted
    while this one is scored, so the scorer's and Redis's work overlap."""

    scorer_batch_within_s: float = Field(default=0.005, gt=0, le=10)
    """Longest wait for a micro-batch to fill before scoring what has arrived. Under load, batches fill
    while the previous one is scored; waiting longer only adds latency when the scorer is idle."""

    scorer_batch_ready_size: int = Field(default=64, ge=1, le=10_000)
    """Pending transactions that make a micro-batch go to the scorer at once, without the
    ``scorer_batch_within_s`` wait: under load, what arrived while the previous batch was scored is
    enough to be worth a batch. Fewer wait for company (each batch costs a few Redis calls and a
    model call whatever its size)."""

    scorer_session_timeout_s: float = Field(default=10.0, ge=6, le=1800)
    """How long a silent scorer worker keeps its partitions (Kafka's consumer session timeout): the
    partitions of a killed worker move to the others after this long (Faust's own default: 60 s)."""

    scorer_instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,200}$")
    """Static group membership: a worker restarted with the same id (e.g. its StatefulSet pod name) takes
    its partitions back at once, without a rebalance. Unique per worker; unset: dynamic membership."""

    scorer_fetch_max_wait_ms: int = Field(default=5, ge=1, le=10_000)
    """Longest time the broker holds a scorer's fetch while no requested partition has new records. A
    consumer has one fetch in flight per broker and leaves partitions with unread fetched records out of
    it, so a fetch of idle topics (labels, model events) holds back the busy transaction partitions for
    up to this long: it bounds the latency the fetch adds (Faust's own setting is 1,500 ms)."""

    scorer_model_threads: int = Field(default=1, ge=1, le=256)
    """Threads the model may use per call (OpenMP/BLAS). One is fastest for micro-batches of a few
    hundred rows; spinning pools steal the cores the consumer, producer and broker need."""

    review_threshold: float = Field(default=0.5, ge=0, le=1)
    """Score from which a transaction is sent to review."""

    decline_threshold: float = Field(default=0.9, ge=0, le=1)
    """Score from which a transaction is declined."""

    risk_medium_threshold: float = Field(default=0.2, ge=0, le=1)
    """Score from which the risk level is ``medium``."""

    risk_high_threshold: float = Field(default=0.6, ge=0, le=1)
    """Score from which the risk level is ``high``."""

    reason_count: int = Field(default=3, ge=0, le=32)
    """How many features a verdict names as reasons (when the model can tell)."""

    shadow_scoring: bool = False
    """Also score with the ``challenger`` alias and record its score in the verdict."""

    canary_share: float = Field(default=0.0, ge=0, le=1)
    """Share of cards (stable by card-id hash) for which the ``challenger`` decides; 0 = off."""

    model_check_interval_s: float = Field(default=30.0, gt=0)
    """How often the scorer checks the ``champion`` alias, in case a reload event was missed."""

    redis_retry_max_s: float = Field(default=10.0, gt=0)
    """Longest back-off between retries while Redis is unreachable or refuses writes (consumption pauses
    meanwhile)."""

    scorer_stall_bound_s: float = Field(default=30.0, gt=0, le=3600)
    """How long input may wait on a scorer worker without a batch completing before ``/ready`` says the
    worker is stalled (503, with the last error). Keep it above the session timeout, so that an
    ordinary rebalance does not count."""

    trainer_model_kind: ModelKind = ModelKind.BOOSTING
    """Estimator the trainer fits (scikit-learn HistGradientBoosting, random forest, logistic; river online)."""

    trainer_train_days: int = Field(default=14, ge=1, le=365)
    """Days of labelled transactions each model trains on (the prequential train window)."""

    trainer_test_days: int = Field(default=7, ge=1, le=90)
    """Days of the test window the challenger and the champion are compared on."""

    trainer_folds: int = Field(default=2, ge=1, le=12)
    """Prequential folds evaluated per retrain (fold 0, the most recent, decides the promotion)."""

    trainer_retrain_every_labels: int = Field(default=50_000, ge=1)
    """Retrain after this many new labels ..."""

    trainer_retrain_every_days: float = Field(default=7.0, gt=0)
    """... or after this much event time (days), whichever comes first."""

    trainer_cache_dir: Path | None = None
    """Folder of the trainer's on-disk history cache (Parquet and a manifest): at start the trainer
    loads it and reads only the offsets after the cached positions; it writes it after catching up
    and at each retrain. A cache that does not match (topics, feature definition, horizon, offsets)
    or fails its integrity check is refused with a logged reason and ignored. Unset: no cache."""

    promotion_margin: float = Field(default=0.0, ge=0, le=1)
    """How much better (absolute) than the champion a challenger's AP and CP@100 must be."""

    scorer_web_host: str = "127.0.0.1"
    """Interface of the scorer's HTTP server (scoring API, health, metrics)."""

    scorer_web_port: Port = 6066
    """Port of the scorer's HTTP server."""

    api_token: SecretStr | None = None
    """Bearer token the scorer's HTTP writes require (``POST /reload``, ``POST /score?record=true``):
    ``Authorization: Bearer <token>``. Several tokens separated by commas are all accepted (to rotate
    one without downtime); each is at least 16 characters of ``A-Z a-z 0-9 - . _ ~ + /`` (``=`` may
    end it). Unset: those writes are refused. Never logged."""

    api_score_requires_token: bool = False
    """Read-only ``POST /score`` needs the token too (``GET /health``, ``/ready``, ``/metrics`` and
    ``/model`` always stay open)."""

    scorer_cors_origins: str = ""
    """Origins (``scheme://host[:port]``, comma-separated, or ``*`` for any) whose browser pages may
    call the scorer's HTTP API: their requests get CORS headers and their preflights are answered.
    Empty (the default): no CORS headers, every preflight refused. CORS only lets a page read the
    answers; the bearer token is still required where it is."""

    @field_validator("scorer_cors_origins")
    @classmethod
    def _cors_origins_are_origins(cls, value: str) -> str:
        for origin in (part.strip() for part in value.split(",") if part.strip()):
            if origin != "*" and not re.fullmatch(r"[a-z][a-z0-9+.-]*://[^/\s,?#]+", origin):
                raise ValueError(
                    f"FRAUD_SCORER_CORS_ORIGINS: {origin!r} is not an origin: expected scheme://host[:port] "
                    "(no path, no trailing slash) or *, comma-separated"
                )
        return value

    @property
    def cors_origins(self) -> tuple[str, ...]:
        """The origins of ``FRAUD_SCORER_CORS_ORIGINS`` (none: CORS is off)."""
        return tuple(part.strip() for part in self.scorer_cors_origins.split(",") if part.strip())

    metrics_host: str = "127.0.0.1"
    """Interface of the trainer's and the producer's Prometheus ``/metrics`` servers."""

    trainer_metrics_port: Port = 6070
    """Port of the trainer's Prometheus ``/metrics`` server."""

    producer_metrics_port: Port | None = None
    """Port of the producer's Prometheus ``/metrics`` server (unset: none is started)."""

    trainer_retrain_on_drift: bool = False
    """Also retrain when a scorer reports a drift alarm on the model-events topic."""

    trainer_drift_cooldown_s: float = Field(default=3600.0, ge=0)
    """Least wall-clock time between two drift-triggered retrains."""

    startup_timeout_s: float = Field(default=60.0, gt=0)
    """How long ``up`` waits for each local service to become ready."""

    service_wait_s: float = Field(default=15.0, gt=0, le=300)
    """How long a command waits for Kafka, Redis or MLflow to answer (at start, and for ``produce``'s
    acknowledgements after an outage) before it stops with a message naming the service and its variable."""

    @model_validator(mode="after")
    def _thresholds_are_ordered(self) -> Settings:
        if self.review_threshold > self.decline_threshold:
            raise ValueError("FRAUD_REVIEW_THRESHOLD must not exceed FRAUD_DECLINE_THRESHOLD")
        if self.risk_medium_threshold > self.risk_high_threshold:
            raise ValueError("FRAUD_RISK_MEDIUM_THRESHOLD must not exceed FRAUD_RISK_HIGH_THRESHOLD")
        if self.redis_cluster and self.redis_url is None:
            raise ValueError("FRAUD_REDIS_CLUSTER needs FRAUD_REDIS_URL (the local Redis is a single server)")
        return self

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Settings:
        protocol = self.kafka_security_protocol
        if protocol.uses_sasl and (self.kafka_sasl_username is None or self.kafka_sasl_password is None):
            raise ValueError(
                f"FRAUD_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "FRAUD_KAFKA_SASL_USERNAME and FRAUD_KAFKA_SASL_PASSWORD"
            )
        if not protocol.uses_sasl and (self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError(
                "FRAUD_KAFKA_SASL_USERNAME/FRAUD_KAFKA_SASL_PASSWORD are set but FRAUD_KAFKA_SECURITY_PROTOCOL is "
                f"{protocol}: set it to SASL_SSL (or SASL_PLAINTEXT), or unset the SASL credentials"
            )
        tls_files = {
            "FRAUD_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "FRAUD_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "FRAUD_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        given = [name for name, value in tls_files.items() if value is not None]
        if self.kafka_ssl_key_password is not None:
            given.append("FRAUD_KAFKA_SSL_KEY_PASSWORD")
        if given and not protocol.uses_tls:
            raise ValueError(
                f"{', '.join(given)} set but FRAUD_KAFKA_SECURITY_PROTOCOL is {protocol}: "
                "set it to SSL or SASL_SSL, or unset the TLS files"
            )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("FRAUD_KAFKA_SSL_CERTFILE and FRAUD_KAFKA_SSL_KEYFILE go together: set both or neither")
        if self.kafka_ssl_key_password is not None and self.kafka_ssl_keyfile is None:
            raise ValueError("FRAUD_KAFKA_SSL_KEY_PASSWORD needs FRAUD_KAFKA_SSL_KEYFILE")
        for name, path in tls_files.items():
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path} is not a readable file")
        if protocol is not KafkaSecurityProtocol.PLAINTEXT and self.kafka_is_local:
            raise ValueError(
                f"FRAUD_KAFKA_SECURITY_PROTOCOL={protocol} needs FRAUD_KAFKA_BOOTSTRAP: "
                "the local broker of `fraudstream up` listens in PLAINTEXT only"
            )
        return self

    @model_validator(mode="after")
    def _redis_auth_is_complete(self) -> Settings:
        if self.redis_username is not None and self.redis_password is None:
            raise ValueError("FRAUD_REDIS_USERNAME needs FRAUD_REDIS_PASSWORD")
        if self.redis_password is not None and self.redis_url is not None:
            where = urlsplit(self.redis_url.get_secret_value())
            if where.password is not None or where.username:
                raise ValueError(
                    "the Redis credentials are set twice: in FRAUD_REDIS_URL and in FRAUD_REDIS_PASSWORD; keep one"
                )
        return self

    @model_validator(mode="after")
    def _api_tokens_are_usable(self) -> Settings:
        for index, token in enumerate(self.api_tokens, start=1):
            if len(token) < _MIN_API_TOKEN_LENGTH or not _API_TOKEN.fullmatch(token):
                raise ValueError(
                    f"FRAUD_API_TOKEN: token {index} must be at least {_MIN_API_TOKEN_LENGTH} characters of "
                    "A-Z a-z 0-9 - . _ ~ + / (= may end it); several tokens are separated by commas. "
                    'Make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
                )
        return self

    @field_validator("kafka_bootstrap", "mlflow_tracking_uri")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("redis_url", mode="before")
    @classmethod
    def _blank_url_is_unset(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("kafka_sasl_username", "redis_username", "trainer_cache_dir", mode="before")
    @classmethod
    def _blank_name_is_unset(cls, value: object) -> object:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("model_verify_keys", mode="before")
    @classmethod
    def _blank_keys_are_unset(cls, value: object) -> object:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator(
        "kafka_sasl_password",
        "kafka_ssl_key_password",
        "redis_password",
        "model_signing_key",
        "api_token",
        mode="before",
    )
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def derived(self, **changes: Any) -> Settings:
        """These settings with ``changes``, validated like any others (the environment is not read again)."""
        return type(self).model_validate(self.model_dump() | changes)

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
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def api_tokens(self) -> tuple[str, ...]:
        """The bearer tokens of ``FRAUD_API_TOKEN``, in clear (none when it is unset)."""
        if self.api_token is None:
            return ()
        return tuple(token.strip() for token in self.api_token.get_secret_value().split(",") if token.strip())

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


def child_environment(settings: Settings, **fields: object) -> dict[str, str]:
    """``FRAUD_*`` variables that rebuild ``settings`` (with ``fields`` replaced) in a child process:
    unset fields are left out and secrets are passed in clear, so never log the result. The tracking
    URI is left out too: it travels as the standard ``MLFLOW_TRACKING_URI``."""
    values = settings.model_dump(exclude_none=True) | {name: v for name, v in fields.items() if v is not None}
    values.pop("mlflow_tracking_uri", None)
    return {f"{ENV_PREFIX}{name.upper()}": _env_value(value) for name, value in values.items()}


def _env_value(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


class UnknownVariables(ValueError):
    """The environment holds ``FRAUD_`` variables that are no setting (a typo would be ignored)."""


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """What is wrong with each ``FRAUD_`` variable of ``environ`` that names no setting, with the
    closest setting's name when one is near (empty when all are known)."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    problems = []
    for variable in sorted(name for name in environ if name.upper().startswith(ENV_PREFIX)):
        if variable.upper() in known:
            continue
        near = difflib.get_close_matches(variable.upper(), known, n=1, cutoff=0.85)
        hint = f": did you mean {near[0]}?" if near else ": no setting has this name (see README, Configuration)"
        problems.append(f"{variable}{hint}")
    return problems


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; ``overrides`` win over it (used by the CLI).

    A ``FRAUD_`` variable that names no setting raises :class:`UnknownVariables`: a misspelt one
    would otherwise leave its setting at the default without a word."""
    problems = unknown_variables(os.environ)
    if problems:
        raise UnknownVariables("\n".join(problems))
    return Settings(**overrides)  # type: ignore[arg-type]
