"""Child environments, memory sampling and lanes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.config import BenchConfig
from bench.lanes import Lane, new_run_id
from bench.processes import MemorySampler, child_env, read_memory
from fraudcore.settings import Settings


def test_a_child_is_configured_by_the_settings_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "infra", topic_prefix="x.", kafka_port=19092)
    env = child_env(settings, tmp_path / "child", FRAUD_SCORER_WEB_PORT="7000")
    assert env["FRAUD_TOPIC_PREFIX"] == "x."
    assert env["FRAUD_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092"
    assert env["FRAUD_DATA_DIR"] == str(tmp_path / "child")
    assert env["MLFLOW_TRACKING_URI"] == settings.tracking_uri  # the infrastructure's store, not the child's
    assert env["FRAUD_SCORER_WEB_PORT"] == "7000"
    assert {name.removeprefix("FRAUD_").lower() for name in env if name.startswith("FRAUD_")} <= set(
        Settings.model_fields
    )


def test_memory_is_read_from_proc() -> None:
    sample = read_memory(os.getpid())
    assert sample is not None
    assert 0 < sample.rss_kb <= sample.hwm_kb
    sampler = MemorySampler(os.getpid(), interval_s=0.01)
    time.sleep(0.05)
    samples = sampler.stop()
    assert len(samples) >= 2
    assert [s.at for s in samples] == sorted(s.at for s in samples)


def test_every_name_of_a_lane_starts_with_the_run_prefix(tmp_path: Path) -> None:
    base = Settings(data_dir=tmp_path, topic_prefix="dev.")
    run_id = new_run_id()
    lane = Lane.create(base, run_id, "full", BenchConfig(partitions=2, batch_size=250))
    assert all(name.startswith(f"dev.{run_id}.full.") for name in lane.topics.all())
    assert lane.settings.scorer_group.startswith(f"dev.{run_id}.")
    assert lane.settings.redis_namespace == f"{run_id}.full"
    assert run_id in lane.settings.model_name
    assert (lane.settings.topic_partitions, lane.settings.scorer_batch_size) == (2, 250)
