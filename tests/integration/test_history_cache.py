"""The trainer's history cache on real Kafka: a restart reads only what came after the cache and holds
what a full read holds; a cache that does not match the topics is refused and the topics are read
from the beginning."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import msgspec
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from fraudcore.features.definition import DAY_MS
from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.kafka_bulk_reading import BulkReader, KafkaReadError, OffsetRange
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings
from producer.simulator import SimulationParams
from schemas.events import Label, Transaction
from schemas.topics import Topics
from tests.integration.scorer_harness import produce, simulated
from tests.unit.trainer.test_history_cache import assert_same_snapshot
from tests.unit.trainer.twins import MemoryModelEvents
from trainer.history_cache import CURRENT, MANIFEST, TRANSACTIONS, cache_key
from trainer.service import Trainer
from trainer.training import TrainingConfig

PARAMS = SimulationParams(seed=8, n_customers=800, n_terminals=1600, days=12)
"""1,600 transactions a day: the stream clock (the median of the latest 4,096) is about a day behind the newest."""
CUT_DAY = 8


def _no_mlflow() -> NoReturn:
    raise AssertionError("these tests never retrain")


def _trainer(settings: Settings, topics: Topics, config: TrainingConfig | None = None) -> Trainer:
    return Trainer(settings, topics, _no_mlflow, config or TrainingConfig.from_settings(settings))


def _events() -> tuple[list[Transaction | Label], list[Transaction | Label]]:
    """The simulated history in two parts, cut at day ``CUT_DAY``; labels only up to three days before
    the last transaction, so none is left waiting for the clock."""
    transactions, labels = simulated(PARAMS)
    cut = PARAMS.start + timedelta(days=CUT_DAY)
    last = max(t.event_time for t in transactions) - timedelta(days=3)
    first: list[Transaction | Label] = [t for t in transactions if t.event_time < cut]
    first += [label for label in labels if label.labeled_at < cut]
    rest: list[Transaction | Label] = [t for t in transactions if t.event_time >= cut]
    rest += [label for label in labels if cut <= label.labeled_at < last]
    return first, rest


def _setup(services: Settings, unique: str, cache_dir: Path) -> tuple[Settings, Topics]:
    settings = services.model_copy(update={"topic_prefix": f"t{unique}.", "trainer_cache_dir": cache_dir})
    return settings, asyncio.run(ensure_project_topics(settings))


def _cache_results(trainer: Trainer) -> dict[str, float]:
    registry = trainer.metrics.registry
    return {
        result: registry.get_sample_value(
            "fraudstream_trainer_history_cache_total", {"operation": operation, "result": result}
        )
        or 0.0
        for operation, result in (("load", "loaded"), ("load", "refused"), ("load", "absent"), ("save", "saved"))
    }


def test_a_restart_reads_only_what_came_after_the_cache_and_holds_what_a_full_read_holds(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    settings, topics = _setup(services, unique, tmp_path / "cache")
    first, rest = _events()
    produce(settings, first)
    trainer = _trainer(settings, topics)
    assert asyncio.run(trainer.catch_up()) == len(first)
    assert _cache_results(trainer) == {"loaded": 0, "refused": 0, "absent": 1, "saved": 1}

    produce(settings, rest)
    restarted = _trainer(settings, topics)
    assert asyncio.run(restarted.catch_up()) == len(rest)
    assert _cache_results(restarted) == {"loaded": 1, "refused": 0, "absent": 0, "saved": 1}
    accepted = {"kind": "transaction", "outcome": "accepted"}
    read_transactions = restarted.metrics.registry.get_sample_value("fraudstream_trainer_events_total", accepted)
    assert read_transactions == sum(isinstance(event, Transaction) for event in rest)

    uncached = _trainer(settings.model_copy(update={"trainer_cache_dir": None}), topics)
    assert asyncio.run(uncached.catch_up()) == len(first) + len(rest)
    uncached._prune()  # as a save does
    assert uncached.positions == restarted.positions
    cached, full = restarted.history.snapshot(), uncached.history.snapshot()
    # the clock's sample (the latest 4,096 times observed) depends on where the polls cut the topics,
    # for a second full read too; the rows and their labels do not
    assert abs(cached.clock_ms - full.clock_ms) < DAY_MS
    assert_same_snapshot(cached, dataclasses.replace(full, clock_ms=cached.clock_ms))
    assert restarted.history.labels_received == uncached.history.labels_received > 0

    table = pq.read_table(tmp_path / "cache" / CURRENT / TRANSACTIONS)  # as any Parquet reader sees it
    assert table.num_rows == len(full)
    assert sorted(table.column("transaction_id").to_pylist()) == sorted(full.transaction_id.to_pylist())
    assert pc.sum(table.column("is_fraud")).as_py() == int(full.is_fraud.sum()) > 0


def test_a_following_trainer_saves_the_cache_at_its_catch_up_retrain(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    settings, topics = _setup(services, unique, tmp_path / "cache")
    first, _ = _events()
    produce(settings, first)
    trainer = _trainer(settings, topics)
    asyncio.run(_follow_until_saved(trainer))
    assert trainer.caught_up
    restarted = _trainer(settings, topics)
    assert asyncio.run(restarted.catch_up()) == 0
    assert len(restarted.history) == len(trainer.history) > 0
    assert restarted.history.labels_received == trainer.history.labels_received


async def _follow_until_saved(trainer: Trainer) -> None:
    """Follow the topics (the retrain itself fails here: no registry) until the cache is saved."""
    stop = asyncio.Event()
    events = MemoryModelEvents()
    running = asyncio.create_task(trainer.run(stop, lambda report: None, events))
    try:
        for _ in range(600):
            if _cache_results(trainer)["saved"] or running.done():
                break
            await asyncio.sleep(0.1)
        assert _cache_results(trainer)["saved"] == 1
    finally:
        stop.set()
        events.close()
        await running


def _edit_manifest(cache_dir: Path, edit: Callable[[dict[str, Any]], None], settings: Settings | None) -> None:
    """Change the manifest; with ``settings``, sign it again with their key."""
    path = cache_dir / CURRENT / MANIFEST
    signed = json.loads(path.read_bytes())
    edit(signed["manifest"])
    key = None if settings is None else cache_key(settings)
    if key is not None:
        body = msgspec.json.encode(signed["manifest"], order="sorted")
        signed["hmac_sha256"] = hmac.new(key.secret, body, hashlib.sha256).hexdigest()
    path.write_text(json.dumps(signed))


def _another_cluster(manifest: dict[str, Any]) -> None:
    manifest["cluster_id"] = "another-cluster"


def _beyond_the_end(manifest: dict[str, Any]) -> None:
    manifest["positions"][0]["offset"] += 1_000


async def _delete_records(settings: Settings, topic: str, before: int) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(before)})
    finally:
        await admin.close()


def test_a_cache_that_does_not_match_is_refused_and_the_topics_are_read_from_the_beginning(
    services: Settings, unique: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trainer.service")
    cache_dir = tmp_path / "cache"
    settings, topics = _setup(services, unique, cache_dir)
    first, rest = _events()
    produce(settings, first)
    assert asyncio.run(_trainer(settings, topics).catch_up()) == len(first)

    def refused(expected: str, config: TrainingConfig | None = None, read: int = len(first)) -> None:
        caplog.clear()
        trainer = _trainer(settings, topics, config)
        assert asyncio.run(trainer.catch_up()) == read  # everything, from the beginning
        assert _cache_results(trainer)["refused"] == 1, caplog.text
        assert "is refused" in caplog.text, caplog.text
        assert expected in caplog.text, caplog.text

    written = json.loads((cache_dir / CURRENT / MANIFEST).read_bytes())["manifest"]
    assert isinstance(written["cluster_id"], str)
    assert len(written["cluster_id"]) >= 8  # the broker's cluster id (22 characters in KRaft)
    _edit_manifest(cache_dir, _another_cluster, settings)  # topics of the same names on another cluster
    refused("read from Kafka cluster another-cluster")
    _edit_manifest(cache_dir, _beyond_the_end, settings)  # as if the topic had been recreated
    refused("beyond its end")
    _edit_manifest(cache_dir, _beyond_the_end, None)  # edited without the key
    refused("HMAC does not verify")
    (cache_dir / CURRENT / TRANSACTIONS).write_bytes(b"PAR1 not the cached file PAR1")
    refused("does not match the manifest's size and SHA-256")
    config = TrainingConfig.from_settings(settings)
    refused("needs", dataclasses.replace(config, train_days=config.train_days + 30))  # a longer horizon
    other_spec = dataclasses.replace(config.spec, night_last_hour=config.spec.night_last_hour - 1)
    refused("feature definition", dataclasses.replace(config, spec=other_spec))
    other_topics = Topics.with_prefix(f"o{unique}.")
    asyncio.run(ensure_project_topics(settings.model_copy(update={"topic_prefix": f"o{unique}."})))
    caplog.clear()
    assert asyncio.run(_trainer(settings, other_topics).catch_up()) == 0
    assert "written for topics" in caplog.text, caplog.text

    # records deleted before the trainer read them: its cached position is before the beginning
    produce(settings, rest)
    trainer = _trainer(settings, topics)
    asyncio.run(trainer.catch_up())  # the cache of other_topics was refused: everything read, saved
    assert _cache_results(trainer)["refused"] == 1
    produce(settings, rest[:500])  # redelivered copies, changing nothing but the offsets
    start = trainer.positions[topics.transactions, 0]
    asyncio.run(_delete_records(settings, topics.transactions, start + 10))
    caplog.clear()
    again = _trainer(settings, topics)
    assert asyncio.run(again.catch_up()) == len(first) + len(rest) + 500 - (start + 10)
    assert _cache_results(again)["refused"] == 1
    assert "before its beginning" in caplog.text, caplog.text


def test_a_kafka_error_while_checking_the_cache_propagates_and_the_cache_is_tried_again(
    services: Settings, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, topics = _setup(services, unique, tmp_path / "cache")
    first, _ = _events()
    produce(settings, first[:200])
    assert asyncio.run(_trainer(settings, topics).catch_up()) == 200  # writes the cache
    trainer = _trainer(settings, topics)

    real_ranges = BulkReader.ranges
    failures = iter([KafkaReadError("the broker went away while the cache's positions were checked")])

    def ranges_failing_once(reader: BulkReader, *args: Any, **kwargs: Any) -> list[OffsetRange]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real_ranges(reader, *args, **kwargs)

    monkeypatch.setattr(BulkReader, "ranges", ranges_failing_once)
    with pytest.raises(KafkaReadError):
        asyncio.run(trainer.catch_up())
    assert _cache_results(trainer) == {"loaded": 0, "refused": 0, "absent": 0, "saved": 0}
    assert asyncio.run(trainer.catch_up()) == 0  # tried again: loaded, nothing new to read
    assert _cache_results(trainer)["loaded"] == 1
    assert len(trainer.history) > 0
