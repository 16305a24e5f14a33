"""Driving real scorer workers in tests: environment, processes, topics, a champion model.

Scorer workers run as ``fraudstream score`` subprocesses against the session's real Kafka, Redis
and MLflow store; the test reads the topics with a plain aiokafka consumer (no consumer group).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaProducer

from fraudcore.features.definition import DEFAULT_SPEC, LabelFacts, TxFacts
from fraudcore.features.memory import offline_features
from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.kafka_security import client_options
from fraudcore.mlflow_store import connect
from fraudcore.model_kind import ModelKind
from fraudcore.models import ModelBundle, promote, publish, signing_key, verification_keys
from fraudcore.settings import Settings
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.codec import encode
from schemas.events import Event, Label, Transaction
from schemas.topics import Topics, key_for
from tests.integration.conftest import free_port
from trainer.fitting import fit_bundle


@dataclass(frozen=True)
class ScorerSetup:
    """One test's isolated scorer configuration (topics, group, Redis namespace, model name)."""

    settings: Settings
    unique: str
    data_dir: Path
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    """The bearer token of the workers' HTTP writes (``FRAUD_API_TOKEN``)."""

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.settings.topic_prefix)

    def env(self, web_port: int, **extra: str) -> dict[str, str]:
        """The environment of a ``fraudstream score`` worker of this setup."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_") and k != "MLFLOW_TRACKING_URI"}
        return (
            env
            | {
                "FRAUD_DATA_DIR": str(self.data_dir),
                "FRAUD_KAFKA_BOOTSTRAP": self.settings.bootstrap_servers,
                "FRAUD_REDIS_URL": self.settings.redis_connection_url,
                "MLFLOW_TRACKING_URI": self.settings.tracking_uri,
                "FRAUD_TOPIC_PREFIX": self.settings.topic_prefix,
                "FRAUD_MODEL_NAME": self.settings.model_name,
                "FRAUD_REDIS_NAMESPACE": self.settings.redis_namespace,
                "FRAUD_SCORER_GROUP": self.settings.scorer_group,
                "FRAUD_SCORER_WEB_PORT": str(web_port),
                "FRAUD_MODEL_CHECK_INTERVAL_S": "5",
                "FRAUD_API_TOKEN": self.api_token,
                # a scorer holds the public keys only, never the signing key
                "FRAUD_MODEL_VERIFY_KEYS": verification_keys(self.settings).pem(),
            }
            | extra
        )


def scorer_setup(services: Settings, unique: str, tmp_path: Path, partitions: int = 3) -> ScorerSetup:
    """Settings of this test's own: prefix, group, namespace and model name all carry ``unique``."""
    settings = Settings.model_validate(
        services.model_dump()
        | {
            "topic_prefix": f"s{unique}.",
            "model_name": f"fraud-{unique}",
            "redis_namespace": f"fs{unique}",
            "scorer_group": f"scorer-{unique}",
            "data_dir": tmp_path / "worker",
            "topic_partitions": partitions,
        }
    )
    asyncio.run(ensure_project_topics(settings))
    return ScorerSetup(settings, unique, tmp_path / "worker")


class Worker:
    """A ``fraudstream score`` subprocess and its HTTP port."""

    def __init__(self, setup: ScorerSetup, log_path: Path, *, log_level: str = "info", **extra_env: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fraudstream", "score", "--log-level", log_level],
            env=setup.env(self.port, **extra_env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Wait until ``/ready`` answers 200 (the model is loaded, Redis answered)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()}")
            status, _ = http(self.url("/ready"))
            if status == 200:
                return
            time.sleep(0.3)
        raise AssertionError(f"the worker was not ready within {timeout_s} s:\n{self.log()}")

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]


def http(
    url: str, body: bytes | None = None, timeout_s: float = 10.0, *, token: str | None = None
) -> tuple[int, bytes]:
    """(status, body) of a GET (or POST when ``body`` is given), with ``Authorization: Bearer <token>``
    when a token is given; status 0 when nothing answers."""
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def simulated(params: SimulationParams, count: int | None = None) -> tuple[list[Transaction], list[Label]]:
    """Simulated transactions and their labels (delay = the feature spec's label delay)."""
    policy = LabelPolicy(delay=timedelta(days=DEFAULT_SPEC.label_delay_days))
    events = list(SimulatedStream(params, policy).events(count))
    return [e for e in events if isinstance(e, Transaction)], [e for e in events if isinstance(e, Label)]


def offline(transactions: Sequence[Transaction], labels: Sequence[Label]) -> np.ndarray:
    """The offline feature matrix of ``transactions`` (rows in their order)."""
    return offline_features([TxFacts.of(t) for t in transactions], [LabelFacts.of(label) for label in labels])


def train_bundle(seed: int, kind: ModelKind = ModelKind.LOGISTIC, warm_from_day: int = 0) -> ModelBundle:
    """A model fitted on simulated history (different seeds give different models); with
    ``warm_from_day``, only on the days whose feature windows are full (its reference batch then
    looks like a long-running stream)."""
    params = SimulationParams(seed=1000 + seed, n_customers=400, n_terminals=800, days=45)
    transactions, labels = simulated(params)
    matrix = offline(transactions, labels)
    warm = np.array([t.event_time >= params.start + timedelta(days=warm_from_day) for t in transactions])
    is_fraud = np.array([t.fraud_scenario != 0 for t in transactions])
    return fit_bundle(matrix[warm], is_fraud[warm], kind=kind, seed=seed)


def register(setup: ScorerSetup, bundle: ModelBundle, *, champion: bool = True) -> str:
    """Publish ``bundle`` as a new version of the setup's model; promote it unless told not to."""
    client = connect(setup.settings)
    version = publish(
        client, setup.settings, bundle, setup.settings.model_name, signing_key=signing_key(setup.settings)
    )
    if champion:
        promote(client, setup.settings.model_name, version)
    return version


def produce(settings: Settings, events: Sequence[Event | tuple[str, bytes | None, bytes | None]]) -> None:
    """Send contract events (to their topic) or raw ``(topic, key, value)`` triples, acks=all."""

    async def send() -> None:
        producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
        await producer.start()
        topics = Topics.with_prefix(settings.topic_prefix)
        try:
            for item in events:
                if isinstance(item, tuple):
                    topic, key, value = item
                    await producer.send(topic, value, key=key)
                else:
                    await producer.send(topics.topic_for(type(item)), encode(item), key=key_for(item))
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def read_topic(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every record now in ``topic`` (all partitions, from the beginning, no consumer group)."""

    async def read() -> list[Any]:
        consumer = groupless_consumer(settings)
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, [topic])
            if not partitions:
                return []
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            records: list[Any] = []
            deadline = time.monotonic() + timeout_s
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not read {topic} to its end within {timeout_s} s")
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records.extend(batch)
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


def wait_for_records(
    settings: Settings,
    topic: str,
    count: int,
    timeout_s: float,
    worker: Worker | None = None,
    *,
    distinct_keys: bool = False,
) -> list[Any]:
    """Read ``topic`` until it holds at least ``count`` records (with ``distinct_keys``: records of
    ``count`` different keys, for streams where redelivery may duplicate some)."""
    deadline = time.monotonic() + timeout_s
    records: list[Any] = []
    while time.monotonic() < deadline:
        records = read_topic(settings, topic)
        if (len({record.key for record in records}) if distinct_keys else len(records)) >= count:
            return records
        if worker is not None and worker.process.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.process.returncode}:\n{worker.log()}")
        time.sleep(0.5)
    details = worker.log() if worker is not None else ""
    raise AssertionError(f"{topic} holds {len(records)} of {count} records after {timeout_s} s\n{details}")


def payloads(records: Sequence[Any]) -> list[dict[str, Any]]:
    """The JSON documents of ``records``."""
    return [json.loads(record.value) for record in records]
