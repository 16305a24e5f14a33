"""``fraudstream bench sizing`` end to end on a few simulated days: a private Redis for the store,
the session's Kafka and MLflow for the trainer. The figures must agree with each other and with the
history (every transaction scored, every key counted by the census); timings are never asserted."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from fraudcore.kafka_admin import admin_client
from fraudcore.mlflow_store import connect
from fraudcore.settings import Settings

DAYS, CUSTOMERS, TERMINALS = 10, 150, 300


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


async def _topics(services: Settings, prefix: str) -> list[str]:
    async with admin_client(services) as admin:
        return [name for name in await admin.list_topics() if name.startswith(prefix)]


@pytest.mark.timeout(600)
def test_the_sizing_figures_agree_with_each_other_and_the_history(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    report = tmp_path / "sizing.json"
    arguments = ["--days", str(DAYS), "--customers", str(CUSTOMERS), "--terminals", str(TERMINALS)]
    done = subprocess.run(
        [sys.executable, "-m", "fraudstream", "bench", "sizing", *arguments, "--json", str(report)],
        env=_env(services, unique),
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert "| bytes per active card |" in done.stdout
    document = json.loads(report.read_text())
    totals, figures, days = document["totals"], document["figures"], document["days"]

    # every transaction of the history was scored once, nothing refused
    assert totals["transactions"] == totals["verdicts"] == days[-1]["transactions"] > 0
    assert (totals["dead_letters"], totals["conflicts"], totals["refused_labels"]) == (0, 0, 0)
    assert totals["labels"] > 0  # labels come one label delay (7 days) after their transaction
    assert [day["day"] for day in days] == list(range(DAYS))
    assert [day["transactions"] for day in days] == sorted(day["transactions"] for day in days)

    # the windows are longer than the history: everything is active and in the window
    assert document["transactions_in_window"] == totals["transactions"]
    assert 0 < document["active_cards"] <= CUSTOMERS
    assert 0 < document["active_terminals"] <= TERMINALS

    # the census counted every key of the private Redis, one key at most per card or terminal
    families = document["families"]
    assert sum(family["keys"] for family in families) == days[-1]["keys"]
    for family in families:
        assert 0 < family["sampled"] <= min(family["keys"], document["config"]["sample_keys"])
        assert family["bytes_per_key"] > 0
        if family["keyed_by"] == "card":
            assert family["keys"] <= document["active_cards"]
        if family["keyed_by"] == "terminal":
            assert family["keys"] <= document["active_terminals"]
    assert {family["keyed_by"] for family in families} >= {"card", "terminal"}
    # a family is one name and one Redis type: a bucket's day index and its day hashes apart
    pairs = [(family["name"], family["types"]) for family in families]
    assert len(set(pairs)) == len(pairs)
    assert {("cday", "zset"), ("cday", "list"), ("claims", "hash"), ("csums", "string"), ("tsums", "string")} <= set(
        pairs
    )
    assert 0 < figures["census_bytes"] <= 1.2 * figures["store_bytes"]
    assert document["families_half"]

    # the figures are the measurements' own arithmetic
    assert figures["store_bytes"] == days[-1]["store_bytes"] > 0
    assert figures["store_bytes_half"] == days[DAYS // 2 - 1]["store_bytes"] > 0
    assert figures["flatness"] == pytest.approx(figures["store_bytes"] / figures["store_bytes_half"])
    assert figures["bytes_per_tx_in_window"] * document["transactions_in_window"] == pytest.approx(
        figures["store_bytes"]
    )
    card_bytes = sum(f["bytes"] for f in families if f["keyed_by"] == "card")
    assert figures["bytes_per_active_card"] * document["active_cards"] == pytest.approx(card_bytes)
    assert figures["scorer_cpu_us_per_tx"] > 0
    assert figures["redis_cpu_us_per_tx"] > 0

    # the trainer read the history twice, more of it the second time
    first, second = document["trainer"]
    assert (first["day"], second["day"]) == (DAYS // 2, DAYS)
    assert 0 < first["transactions_read"] < second["transactions_read"] == totals["transactions"]
    assert first["peak_rss_bytes"] > 0
    assert second["peak_rss_bytes"] > 0
    assert {first["exit_code"], second["exit_code"]} <= {0, 1}

    # a fraudstream score worker scored the first transactions through Kafka
    full_path = document["full_path"]
    assert full_path["transactions"] == document["config"]["full_path"]
    assert 0 < full_path["timed"] < full_path["transactions"]
    assert figures["full_path_cpu_us_per_tx"] == pytest.approx(1e6 * full_path["cpu_s"] / full_path["timed"])

    # nothing of the run is left behind
    assert asyncio.run(_topics(services, f"t{unique}.")) == []
    with redis.Redis.from_url(services.redis_connection_url) as client:
        assert list(client.scan_iter(match=f"{document['run_id']}.*", count=10_000)) == []
    assert connect(services).search_registered_models(f"name LIKE 'fraud-{unique}%'") == []
