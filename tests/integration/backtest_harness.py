"""Helpers of the backtest tests: producing history at event times, live consumer groups, a browser."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from fraudcore.features.definition import epoch_ms
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.events import Label, Transaction
from schemas.topics import Topics, key_for
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import ScorerSetup


def use_setup(monkeypatch: pytest.MonkeyPatch, setup: ScorerSetup) -> None:
    """Point the in-process command line at the setup (its FRAUD_* variables and MLflow store)."""
    for name, value in setup.env(free_port()).items():
        if name.startswith("FRAUD_") or name == "MLFLOW_TRACKING_URI":
            monkeypatch.setenv(name, value)


def keep_old_records(settings: Settings, names: Sequence[str]) -> None:
    """Turn off time-based retention on the topics: records stamped with old event times would
    otherwise be deleted by the broker's next retention check, a few minutes in."""

    async def alter() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            resources = [ConfigResource(ConfigResourceType.TOPIC, name, {"retention.ms": "-1"}) for name in names]
            for response in await admin.alter_configs(resources):
                for error_code, message, _, name in response.resources:
                    assert error_code == 0, f"cannot alter {name}: {message}"
        finally:
            await admin.close()

    asyncio.run(alter())


def produce_at_event_times(settings: Settings, events: Sequence[Transaction | Label]) -> None:
    """Send events with their own time as the Kafka timestamp (event time, or labeled_at), as a live
    producer writing them when they happen would."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
        await producer.start()
        topics = Topics.with_prefix(settings.topic_prefix)
        try:
            for event in events:
                moment = event.event_time if isinstance(event, Transaction) else event.labeled_at
                await producer.send(
                    topics.topic_for(type(event)), encode(event), key=key_for(event), timestamp_ms=epoch_ms(moment)
                )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def commit_half(settings: Settings, group: str, topic: str) -> dict[TopicPartition, int]:
    """As a live consumer group would: commit, for each partition of ``topic``, half its end offset."""

    async def commit() -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            offsets = {tp: ends[tp] // 2 for tp in partitions}
            await consumer.commit(offsets)
            return offsets
        finally:
            await consumer.stop()

    return asyncio.run(commit())


def committed(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed, per partition."""

    async def read() -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
        finally:
            await admin.close()

    return asyncio.run(read())


def consumer_groups(settings: Settings) -> set[str]:
    """Every consumer group the cluster knows."""

    async def read() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            return {str(group[0]) for group in await admin.list_consumer_groups()}
        finally:
            await admin.close()

    return asyncio.run(read())


def dump_dom(page: Path, profile: Path, timeout_s: float = 60) -> str:
    """The DOM of ``page`` after it loaded and ran its scripts, in headless Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is missing: run scripts/install-system-deps.sh (or make system-deps)"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(profile)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
