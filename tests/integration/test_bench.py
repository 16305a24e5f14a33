"""``fraudstream bench --quick`` against the session's services: every measurement is taken and is
sane, the ratios are computed from the run's own rates, and the run leaves nothing behind. Timing
targets are never asserted here: performance is measured, not asserted in timed tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from fraudcore.kafka_admin import admin_client
from fraudcore.mlflow_store import connect
from fraudcore.settings import Settings

RATES = ("raw_passthrough", "naive_faust", "framework", "full_scoring")


def _env(services: Settings, unique: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_") and k != "MLFLOW_TRACKING_URI"}
    return env | {
        "FRAUD_DATA_DIR": str(services.data_dir),
        "FRAUD_KAFKA_BOOTSTRAP": services.bootstrap_servers,
        "FRAUD_REDIS_URL": services.redis_connection_url,
        "MLFLOW_TRACKING_URI": services.tracking_uri,
        "FRAUD_TOPIC_PREFIX": f"t{unique}.",
        "FRAUD_MODEL_NAME": f"fraud-{unique}",
    }


def _positive(measurement: dict[str, Any], *names: str) -> None:
    for name in names:
        assert measurement[name] > 0, f"{name} = {measurement[name]}"


async def _topics(services: Settings, prefix: str) -> list[str]:
    async with admin_client(services) as admin:
        return [name for name in await admin.list_topics() if name.startswith(prefix)]


@pytest.mark.timeout(1200)
def test_the_quick_bench_measures_everything_and_cleans_up(services: Settings, unique: str, tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "fraudstream", "bench", "--quick", "--json", str(report)],
        env=_env(services, unique),
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert "| target |" in done.stdout
    document = json.loads(report.read_text())
    measured = document["measurements"]
    config = document["config"]

    for name in RATES:
        _positive(measured[name], "messages", "seconds", "rate")
    assert measured["naive_faust"]["messages"] == config["naive_messages"]
    for name in ("raw_passthrough", "framework", "full_scoring"):
        assert measured[name]["messages"] == config["messages"]
    _positive(measured["in_memory_scoring"], "rows", "seconds", "rate")
    _positive(measured["backtest"], "transactions", "seconds", "rate")
    assert measured["backtest"]["transactions"] == config["messages"]

    latency = measured["latency"]
    _positive(latency, "target_rate", "achieved_rate", "transactions", "p50_ms", "p99_ms", "p999_ms")
    assert latency["p50_ms"] <= latency["p99_ms"] <= latency["p999_ms"] <= latency["max_ms"]
    assert latency["target_rate"] == pytest.approx(measured["full_scoring"]["rate"] / 2)
    raw_latency = measured["raw_passthrough_latency"]
    _positive(raw_latency, "achieved_rate", "transactions", "p50_ms", "p99_ms")
    assert raw_latency["target_rate"] == latency["target_rate"]
    swap = measured["hot_swap"]
    assert swap["to_version"] != swap["from_version"]
    assert swap["swap_seconds"] > 0
    assert swap["stall_ms"] >= 0
    assert swap["largest_gap_elsewhere_ms"] >= 0
    memory = measured["memory"]
    _positive(memory, "peak_rss_mb", "hwm_mb", "window_seconds", "samples")
    assert memory["hwm_mb"] >= memory["peak_rss_mb"] * 0.99

    rate = {name: measured[name]["rate"] for name in RATES}
    ratios = document["ratios"]
    assert ratios["framework_to_raw"] == pytest.approx(rate["framework"] / rate["raw_passthrough"])
    assert ratios["full_to_raw"] == pytest.approx(rate["full_scoring"] / rate["raw_passthrough"])
    assert ratios["full_to_naive"] == pytest.approx(rate["full_scoring"] / rate["naive_faust"])
    assert ratios["in_memory_to_full"] == pytest.approx(measured["in_memory_scoring"]["rate"] / rate["full_scoring"])
    assert ratios["backtest_to_full"] == pytest.approx(measured["backtest"]["rate"] / rate["full_scoring"])
    assert [target["measured"] for target in document["targets"]] == pytest.approx(
        [ratios["framework_to_raw"], ratios["full_to_raw"], ratios["full_to_naive"]]
    )
    assert all(isinstance(target["met"], bool) for target in document["targets"])
    assert len(document["machine"]["load_before"]) == 3

    assert asyncio.run(_topics(services, f"t{unique}.")) == []
    client = redis.Redis.from_url(services.redis_connection_url)
    try:
        assert not list(client.scan_iter(match="bench-*", count=1000))
    finally:
        client.close()
    assert not connect(services).search_registered_models(f"name LIKE 'fraud-{unique}%'")
