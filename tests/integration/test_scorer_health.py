"""Failures that used to look healthy: a full Redis, a verdicts topic that disappears.

Each test runs a real worker on the session's Kafka; the Redis test uses a redis-server of its own,
so that shrinking its memory breaks no other test.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr

from fraudcore.features.definition import FEATURE_NAMES
from fraudcore.kafka_admin import admin_client, delete_topics, ensure_project_topics
from fraudcore.local.health import check_redis
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


def _topic_exists(settings: Settings, topic: str) -> bool:
    async def listed() -> bool:
        async with admin_client(settings) as admin:
            return topic in await admin.list_topics()

    return asyncio.run(listed())


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
    admin.config_set("maxmemory-policy", "volatile-lru")  # a managed Redis's usual default
    worker = Worker(setup, tmp_path / "worker.log", FRAUD_REDIS_URL=redis_settings.redis_connection_url)
    try:
        worker.wait_ready()
        ready = json.loads(http(worker.url("/ready"))[1])
        assert ready["redis_eviction"]["policy"] == "volatile-lru"
        assert ready["redis_eviction"]["evicts"] == "yes"
        assert "can silently evict feature keys" in worker.log()
        assert _metric(worker, 'fraudstream_scorer_redis_eviction_policy{evicts="yes",policy="volatile-lru"}') == 1
        admin.config_set("maxmemory-policy", "noeviction")  # the operator heeds the warning
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
        running_log = worker.log_path.read_text()
    finally:
        assert worker.stop() == 0, worker.log()
        admin.close()
        server.stop()

    assert "OutOfMemoryError" in running_log
    assert "Traceback" not in running_log  # no crash while Redis was full
    verdicts = payloads(records)
    by_id = {v["transaction_id"]: v for v in verdicts}
    assert len(verdicts) == len(by_id) == len(transactions)  # one verdict each, none lost, none twice
    expected = offline(transactions, [])
    for row, transaction in enumerate(transactions):
        features = by_id[transaction.transaction_id]["features"]
        assert [features[name] for name in FEATURE_NAMES] == expected[row].tolist(), transaction.transaction_id


def test_a_deleted_verdicts_topic_makes_the_worker_unready_naming_the_error_and_recreated_nothing_is_lost(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    bound_s = 5.0
    setup = scorer_setup(services, unique, tmp_path)
    settings, verdicts_topic = setup.settings, setup.topics.verdicts
    register(setup, train_bundle(seed=1))
    transactions, _ = simulated(SimulationParams(seed=7, n_customers=100, n_terminals=200, days=10))
    first = len(transactions) // 3
    worker = Worker(setup, tmp_path / "worker.log", FRAUD_SCORER_STALL_BOUND_S=str(bound_s))
    try:
        worker.wait_ready()
        produce(settings, transactions[:first])
        before = {r.key for r in wait_for_records(settings, verdicts_topic, first, 120, worker)}
        asyncio.run(delete_topics(settings, [verdicts_topic]))
        while _topic_exists(settings, verdicts_topic):
            time.sleep(0.2)
        deleted_at = time.monotonic()
        produce(settings, transactions[first:])  # the stream goes on
        deadline = deleted_at + bound_s + 15
        while True:  # not ready once the bound has passed, naming the error
            status, body = http(worker.url("/ready"))
            ready = json.loads(body) if status == 503 else {}
            if (ready.get("last_error") or {}).get("error") == "UnknownTopicOrPartitionError":
                break
            assert time.monotonic() < deadline, f"/ready: {status} {body!r}\n{worker.log()}"
            assert worker.process.poll() is None, worker.log()
            time.sleep(0.2)
        assert ready["stalled_for_s"] >= bound_s  # rounded to 0.1 s
        assert verdicts_topic in ready["last_error"]["message"]
        assert ready["last_error"]["needs_operator"] is True
        assert http(worker.url("/health"))[0] == 200  # alive: a restart would not bring the topic back
        assert _metric(worker, 'fraudstream_scorer_send_failures_total{error="UnknownTopicOrPartitionError"}') > 0
        assert _metric(worker, "fraudstream_scorer_stalled_seconds") > bound_s
        asyncio.run(ensure_project_topics(settings))  # an operator recreates it
        while not _topic_exists(settings, verdicts_topic):
            time.sleep(0.5)
            asyncio.run(ensure_project_topics(settings))
        after = wait_for_records(settings, verdicts_topic, len(transactions) - first, 120, worker, distinct_keys=True)
        deadline = time.monotonic() + 15
        while http(worker.url("/ready"))[0] != 200:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
    finally:
        assert worker.stop() == 0, worker.log()
    log = worker.log_path.read_text()

    ids = {t.transaction_id.encode() for t in transactions}
    assert before | {r.key for r in after} == ids  # every transaction has its verdict
    assert {t.transaction_id.encode() for t in transactions[first:]} <= {r.key for r in after}
    assert "UnknownTopicOrPartitionError" in log
    assert f"topic {verdicts_topic} does not exist" in log


def test_status_reports_an_eviction_policy_that_can_delete_feature_keys_or_that_it_could_not_check(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "redis", redis_port=free_port())
    server = RedisServer(settings)
    server.start()
    admin = redis.Redis.from_url(settings.redis_connection_url)
    try:
        assert "WARNING" not in check_redis(settings)
        assert "maxmemory-policy noeviction" in check_redis(settings)
        admin.config_set("maxmemory-policy", "allkeys-lru")
        assert "WARNING: maxmemory-policy allkeys-lru can silently evict feature keys" in check_redis(settings)
        admin.acl_setuser(
            "scorer", enabled=True, passwords=["+scorer-Secret-1"], keys=["~*"], commands=["+@all", "-config"]
        )
        limited = settings.model_copy(
            update={"redis_username": "scorer", "redis_password": SecretStr("scorer-Secret-1")}
        )
        detail = check_redis(limited)  # answers (healthy): only the policy is unknown
        assert "WARNING: maxmemory-policy could not be checked (CONFIG GET refused: NoPermissionError" in detail
    finally:
        admin.close()
        server.stop()
