"""Failures that used to look healthy: a full Redis, a verdicts topic that disappears.

Each test runs a real worker on the session's Kafka; the Redis test uses a redis-server of its own,
so that shrinking its memory breaks no other test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import redis

from fraudcore.features.definition import FEATURE_NAMES
from fraudcore.local.redis_server import RedisServer
from fraudcore.settings import Settings
from producer.simulator import SimulationParams
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import (
    Worker,
    http,
    offline,
    payloads,
    produce,
    read_topic,
    register,
    scorer_setup,
    simulated,
    train_bundle,
    wait_for_records,
)


def _metric(worker: Worker, series: str) -> float:
    _, body = http(worker.url("/metrics"))
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines() if line.startswith(series + " "))


def _wait_not_ready(worker: Worker, timeout_s: float) -> dict[str, Any]:
    """Wait until ``/ready`` answers 503; its body."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = http(worker.url("/ready"))
        if status == 503:
            document: dict[str, Any] = json.loads(body)
            return document
        assert time.monotonic() < deadline, f"/ready still answers {status} after {timeout_s} s\n{worker.log()}"
        assert worker.process.poll() is None, worker.log()
        time.sleep(0.2)


def test_redis_out_of_memory_pauses_the_worker_and_every_transaction_is_scored_once_it_has_room(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    redis_settings = Settings(data_dir=tmp_path / "redis", redis_port=free_port())
    server = RedisServer(redis_settings)
    server.start()
    admin = redis.Redis.from_url(redis_settings.redis_connection_url)
    # One partition: the worker sees the transactions in event-time order, so its features must equal
    # the offline ones exactly; a batch counted twice after a refusal would show.
    setup = scorer_setup(services, unique, tmp_path, partitions=1)
    register(setup, train_bundle(seed=1))
    transactions, _ = simulated(SimulationParams(seed=6, n_customers=200, n_terminals=400, days=20))
    first = len(transactions) // 4
    worker = Worker(setup, tmp_path / "worker.log", FRAUD_REDIS_URL=redis_settings.redis_connection_url)
    try:
        worker.wait_ready()
        assert admin.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        produce(setup.settings, transactions[:first])
        wait_for_records(setup.settings, setup.topics.verdicts, first, 120, worker)
        # Room for a few hundred more transactions: Redis fills up in the middle of the stream and
        # then refuses every write (OOM), possibly between the phases of a batch.
        admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + 150_000)
        produce(setup.settings, transactions[first:])
        refused = _wait_not_ready(worker, 60)
        assert refused["feature_store"] is False
        assert refused["feature_store_error"]["kind"] == "out_of_memory", refused
        time.sleep(3)
        scored_while_full = {
            json.loads(r.value)["transaction_id"] for r in read_topic(setup.settings, setup.topics.verdicts)
        }
        assert first <= len(scored_while_full) < len(transactions)
        assert http(worker.url("/ready"))[0] == 503
        assert worker.process.poll() is None, worker.log()  # the same process: no crash, no restart
        assert _metric(worker, 'fraudstream_scorer_redis_errors_total{kind="out_of_memory"}') > 0
        assert _metric(worker, 'fraudstream_scorer_feature_store_unavailable{kind="out_of_memory"}') == 1
        admin.config_set("maxmemory", 0)  # room again
        records = wait_for_records(setup.settings, setup.topics.verdicts, len(transactions), 120, worker)
        deadline = time.monotonic() + 10
        while http(worker.url("/ready"))[0] != 200:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
        assert _metric(worker, 'fraudstream_scorer_feature_store_unavailable{kind="out_of_memory"}') == 0
        log = worker.log()
    finally:
        assert worker.stop() == 0, worker.log()
        admin.close()
        server.stop()

    assert "OutOfMemoryError" in log
    assert "Traceback" not in log
    verdicts = payloads(records)
    by_id = {v["transaction_id"]: v for v in verdicts}
    assert len(verdicts) == len(by_id) == len(transactions)  # one verdict each, none lost, none twice
    expected = offline(transactions, [])
    for row, transaction in enumerate(transactions):
        features = by_id[transaction.transaction_id]["features"]
        assert [features[name] for name in FEATURE_NAMES] == expected[row].tolist(), transaction.transaction_id
