"""A real single-node Apache Kafka 4.x broker (KRaft, combined mode) run from its Maven Central jars.

Layout under the settings' folders::

    <cache_dir>/kafka-<version>/libs/*.jar     runtime jars, fetched once by Maven, reused by every run
    <data_dir>/kafka/server.properties         written at every start (ports may change)
    <data_dir>/kafka/data/                     log.dirs, formatted once with a fresh cluster id
    <data_dir>/logs/kafka.log                  broker output
    <data_dir>/run/kafka.pid                   pid of the running broker

By default the client listener is PLAINTEXT. Given a :class:`SecuredListener`, it is SASL_SSL instead
(TLS with the given keystore; the users authenticate with SCRAM-SHA-256 or -512, created when the
storage is formatted, or with PLAIN, listed in the listener's JAAS configuration), the only listener
clients can reach; the controller listener stays on loopback.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fraudcore.local.errors import InfraError
from fraudcore.local.process import ManagedProcess, ensure_port_free, require_program
from fraudcore.settings import Settings

__all__ = ["KafkaBroker", "SecuredListener", "new_cluster_id"]

READY_LINE = "Kafka Server started"
_JAVA_HINT = "The local Kafka broker needs Java 17+: run `make setup` or `apt-get install openjdk-17-jre-headless`."
_MAVEN_HINT = "Maven fetches the Kafka broker jars once: run `make setup` or `apt-get install maven`."


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID as 22 chars of URL-safe base64, never starting with '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


_SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class SecuredListener:
    """A SASL_SSL client listener: the broker's TLS key and certificate, the CA it trusts (for its own
    inter-broker connections) and the SCRAM users it accepts (name → password, both mechanisms)."""

    keystore: Path
    """PKCS12 keystore holding the broker's private key and certificate chain."""
    truststore: Path
    """PKCS12 truststore holding the CA that signed the broker's certificate."""
    store_password: str = field(repr=False)
    """Password of both stores (and of the key)."""
    users: Mapping[str, str] = field(repr=False)
    """Users (SCRAM and PLAIN); the first one is also the broker's own inter-broker identity."""

    def __post_init__(self) -> None:
        if not self.users:
            raise ValueError("a secured listener needs at least one SCRAM user")


class KafkaBroker:
    """Fetch, configure, format, start and stop the local broker described by the settings."""

    def __init__(self, settings: Settings, secured: SecuredListener | None = None) -> None:
        self._settings = settings
        self._secured = secured
        self.home = settings.data_dir / "kafka"
        self.config_file = self.home / "server.properties"
        self.log_dirs = self.home / "data"
        self.process = ManagedProcess(
            name="kafka",
            run_dir=settings.data_dir / "run",
            log_file=settings.data_dir / "logs" / "kafka.log",
            marker=str(self.config_file),
        )

    @property
    def libs_dir(self) -> Path:
        return self._settings.cache_dir / f"kafka-{self._settings.kafka_version}" / "libs"

    def jars_present(self) -> bool:
        return (self.libs_dir / ".complete").exists()

    def fetch_jars(self) -> Path:
        """Gather the broker's runtime jars with Maven (once per Kafka version)."""
        if self.jars_present():
            return self.libs_dir
        mvn = require_program("mvn", _MAVEN_HINT)
        staging = Path(tempfile.mkdtemp(prefix="libs-", dir=self._ensure(self.libs_dir.parent)))
        pom = resources.files("fraudcore.local").joinpath("kafka-pom.xml")
        with resources.as_file(pom) as pom_path:
            argv = [
                mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
                f"-Dkafka.version={self._settings.kafka_version}",
            ]  # fmt: skip
            done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            output = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise InfraError(
                f"Maven could not fetch Apache Kafka {self._settings.kafka_version} "
                f"(exit {done.returncode}). Check FRAUD_KAFKA_VERSION and access to Maven Central.\n{output}"
            )
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        staging.rename(self.libs_dir)
        (self.libs_dir / ".complete").write_text(self._settings.kafka_version, encoding="ascii")
        return self.libs_dir

    def start(self) -> None:
        """Start the broker and wait for its readiness line; no-op when it already runs."""
        if self.process.pid() is not None:
            return
        java = require_program("java", _JAVA_HINT)
        ensure_port_free("Kafka", self._settings.kafka_port, "FRAUD_KAFKA_PORT")
        ensure_port_free("Kafka controller", self._settings.kafka_controller_port, "FRAUD_KAFKA_CONTROLLER_PORT")
        libs = self.fetch_jars()
        self._write_config()
        self._format_storage(java, libs)
        offset = self.process.log_file.stat().st_size if self.process.log_file.exists() else 0
        self.process.start(self._java_argv(java, libs, "kafka.Kafka", str(self.config_file)), cwd=self.home)
        self.process.wait_ready(
            lambda: self._logged_since(offset, READY_LINE),
            self._settings.startup_timeout_s,
            "Kafka broker",
        )

    def stop(self) -> bool:
        """Stop the broker (SIGTERM: a clean shutdown); ``True`` if it was running."""
        return self.process.stop(timeout_s=60.0)

    def wipe(self) -> None:
        """Delete the broker's data and configuration (the jar cache stays)."""
        shutil.rmtree(self.home, ignore_errors=True)

    def _write_config(self) -> None:
        port, cport = self._settings.kafka_port, self._settings.kafka_controller_port
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            **(self._secured_properties(port, cport, self._secured) if self._secured is not None else {}),
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "log.dirs": str(self.log_dirs),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
            "auto.create.topics.enable": "false",
        }
        self._ensure(self.home)
        body = "".join(f"{key}={value}\n" for key, value in properties.items())
        self.config_file.unlink(missing_ok=True)  # may hold passwords: only its owner reads it
        descriptor = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as config:
            config.write("# Written by fraudstream at every start.\n" + body)

    @staticmethod
    def _secured_properties(port: int, cport: int, secured: SecuredListener) -> dict[str, str]:
        """The broker properties of a SASL_SSL client listener (replacing the PLAINTEXT one)."""
        admin, admin_password = next(iter(secured.users.items()))
        identity = f'username="{_jaas_escaped(admin)}" password="{_jaas_escaped(admin_password)}"'
        scram = f"org.apache.kafka.common.security.scram.ScramLoginModule required {identity};"
        plain_users = " ".join(f'user_{name}="{_jaas_escaped(password)}"' for name, password in secured.users.items())
        plain = f"org.apache.kafka.common.security.plain.PlainLoginModule required {identity} {plain_users};"
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": ",".join((*_SCRAM_MECHANISMS, "PLAIN")),
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            **{f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config": scram for m in _SCRAM_MECHANISMS},
            "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(secured.keystore),
            "ssl.keystore.password": secured.store_password,
            "ssl.key.password": secured.store_password,
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": str(secured.truststore),
            "ssl.truststore.password": secured.store_password,
            "ssl.client.auth": "none",
        }

    def _format_storage(self, java: str, libs: Path) -> None:
        if (self.log_dirs / "meta.properties").exists():
            return
        scram = [
            argument
            for name, password in (self._secured.users.items() if self._secured is not None else ())
            for mechanism in _SCRAM_MECHANISMS
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]
        argv = self._java_argv(java, libs, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(),
                               "-c", str(self.config_file), "-g", *scram)  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            output = f"{done.stdout}{done.stderr}"
            for password in self._secured.users.values() if self._secured is not None else ():
                output = output.replace(password, "***")
            raise InfraError(f"formatting the Kafka storage in {self.log_dirs} failed:\n{output}")

    def _java_argv(self, java: str, libs: Path, main_class: str, *args: str) -> list[str]:
        heap = self._settings.kafka_heap
        log_config = resources.files("fraudcore.local").joinpath("kafka-log4j2.properties")
        return [
            java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log_config}",
            "-cp", f"{libs}/*", main_class, *args,
        ]  # fmt: skip

    def _logged_since(self, offset: int, needle: str) -> bool:
        try:
            with self.process.log_file.open("rb") as log:
                log.seek(offset)
                return needle.encode() in log.read()
        except FileNotFoundError:
            return False

    @staticmethod
    def _ensure(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _jaas_escaped(value: str) -> str:
    """``value`` inside a double-quoted JAAS option."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
