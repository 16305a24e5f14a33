"""Scorer workers coming and going, and Redis going away: nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fraudcore.local.redis_server import RedisServer
from fraudcore.settings import Settings
from producer.simulator import SimulationParams
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import (
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


def _metric(worker: Worker, name: str) -> float:
    _, body = http(worker.url("/metrics"))
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def test_a_worker_joining_and_one_leaving_lose_no_transaction(services: Settings, unique: str, tmp_path: Path) -> None:
    setup = scorer_setup(services, unique, tmp_path, partitions=3)
    register(setup, train_bundle(seed=1))
    transactions, _ = simulated(SimulationParams(seed=5, n_customers=300, n_terminals=600, days=30))
    third = len(transactions) // 3
    thirds = [transactions[:third], transactions[third : 2 * third], transactions[2 * third :]]
    first = Worker(setup, tmp_path / "first.log")
    second: Worker | None = None
    try:
        first.wait_ready()
        produce(setup.settings, thirds[0])
        wait_for_records(setup.settings, setup.topics.verdicts, len(thirds[0]), 120, first)
        second = Worker(setup, tmp_path / "second.log")  # joins: the partitions are shared out again
        second.wait_ready()
        produce(setup.settings, thirds[1])
        wait_for_records(
            setup.settings, setup.topics.verdicts, len(thirds[0]) + len(thirds[1]), 120, second, distinct_keys=True
        )
        scored_by_first = _metric(first, 'fraudstream_scorer_transactions_total{outcome="scored"}')
        assert first.stop() == 0, first.log()  # leaves: the second takes every partition
        produce(setup.settings, thirds[2])
        records = wait_for_records(
            setup.settings, setup.topics.verdicts, len(transactions), 180, second, distinct_keys=True
        )
        scored_by_second = _metric(second, 'fraudstream_scorer_transactions_total{outcome="scored"}')
    finally:
        first.stop()
        if second is not None:
            assert second.stop() == 0, second.log()

    verdicts = payloads(records)
    assert {v["transaction_id"] for v in verdicts} == {t.transaction_id for t in transactions}
    assert scored_by_first > 0
    assert scored_by_second > 0
    # Raw duplicates (a batch redelivered after a rebalance) are allowed: consumers dedupe on the key.
    assert len(verdicts) >= len(transactions)


def test_while_redis_is_down_consumption_pauses_and_resumes_without_loss(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    redis_settings = Settings(data_dir=tmp_path / "redis", redis_port=free_port())
    redis = RedisServer(redis_settings)
    redis.start()
    setup = scorer_setup(services, unique, tmp_path)
    register(setup, train_bundle(seed=1))
    transactions, _ = simulated(SimulationParams(seed=6, n_customers=200, n_terminals=400, days=20))
    half = len(transactions) // 2
    worker = Worker(setup, tmp_path / "worker.log", FRAUD_REDIS_URL=redis_settings.redis_connection_url)
    try:
        worker.wait_ready()
        produce(setup.settings, transactions[:half])
        wait_for_records(setup.settings, setup.topics.verdicts, half, 120, worker)
        redis.stop()
        produce(setup.settings, transactions[half:])
        deadline = time.monotonic() + 30
        while http(worker.url("/ready"))[0] != 503:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
        time.sleep(3)
        assert len(read_topic(setup.settings, setup.topics.verdicts)) == half  # nothing scored without features
        assert worker.process.poll() is None
        assert _metric(worker, "fraudstream_scorer_redis_errors_total") > 0
        redis.start()
        records = wait_for_records(setup.settings, setup.topics.verdicts, len(transactions), 120, worker)
        assert http(worker.url("/ready"))[0] == 200
    finally:
        assert worker.stop() == 0, worker.log()
        redis.stop()

    ids = [json.loads(r.value)["transaction_id"] for r in records]
    assert set(ids) == {t.transaction_id for t in transactions}
    assert len(ids) == len(transactions)
