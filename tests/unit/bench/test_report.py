"""The report: ratios from the run's own rates, targets, JSON document and table."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench.config import QUICK
from bench.live import HotSwap, Latency, LivePhase
from bench.memory import MemoryTrend
from bench.offline import BacktestRate, InMemoryRate
from bench.results import BenchReport, Machine
from bench.table import render
from bench.throughput import Throughput


def _report() -> BenchReport:
    return BenchReport(
        command="fraudstream bench --quick",
        started_at=datetime(2026, 11, 23, tzinfo=UTC),
        config=QUICK,
        machine=Machine(2, (0.5, 0.6, 0.7), (1.5, 1.0, 0.8)),
        raw=Throughput(20_000, 2.0, 10_000.0, 1.0),
        naive=Throughput(2_000, 4.0, 500.0, 3.0),
        framework=Throughput(20_000, 2.5, 8_000.0, 5.0),
        full=Throughput(20_000, 4.0, 5_000.0, 5.0),
        whole_batches=Throughput(20_000, 5.0, 4_000.0, 5.0),
        in_memory=InMemoryRate(40_000, 0.2, 200_000.0),
        live=LivePhase(
            Latency(2_500.0, 2_450.0, 73_500, 12.0, 40.0, 90.0, 120.0),
            HotSwap("1", "2", 1.5, 80, 40),
            began=100.0,
            ended=130.0,
        ),
        raw_latency=Latency(2_500.0, 2_500.0, 18_750, 8.0, 16.0, 30.0, 45.0),
        backtest=BacktestRate(20_000, 1.0, 20_000.0, {"read": 0.5, "replay": 0.4, "score": 0.1}),
        memory=MemoryTrend(300.0, 310.0, 280.0, 282.0, 22.0, 5.5, 37.4, 40),
        two_workers=Throughput(20_000, 3.0, 6_000.0, 6.0, 20_000),
    )


def test_ratios_come_from_the_rates_of_the_same_run() -> None:
    ratios = _report().ratios()
    assert ratios["framework_to_raw"] == pytest.approx(0.8)
    assert ratios["full_to_raw"] == pytest.approx(0.5)
    assert ratios["full_to_naive"] == pytest.approx(10.0)
    assert ratios["full_to_whole_batches"] == pytest.approx(1.25)
    assert ratios["two_workers_to_full"] == pytest.approx(1.2)
    assert ratios["in_memory_to_full"] == pytest.approx(40.0)
    assert ratios["backtest_to_full"] == pytest.approx(4.0)
    assert ratios["paced_to_full"] == pytest.approx(0.49)
    assert ratios["p99_to_raw_p99"] == pytest.approx(2.5)


def test_targets_say_whether_they_are_met() -> None:
    targets = {target.name: target for target in _report().targets()}
    assert len(targets) == 3
    assert all(target.met for target in targets.values())
    full_to_raw = targets["full scoring (4) / raw passthrough (1)"]
    assert full_to_raw.threshold == 0.4
    assert full_to_raw.measured == pytest.approx(0.5)


def test_the_document_holds_every_measurement_and_is_json() -> None:
    document = json.loads(json.dumps(_report().document()))
    assert set(document["measurements"]) == {
        "raw_passthrough",
        "naive_faust",
        "framework",
        "full_scoring",
        "full_scoring_whole_batches",
        "in_memory_scoring",
        "latency",
        "raw_passthrough_latency",
        "hot_swap",
        "backtest",
        "memory",
        "two_workers",
    }
    assert document["config"]["model_kind"] == "boosting"
    assert document["measurements"]["latency"]["p999_ms"] == 90.0
    assert document["targets"][0]["met"] is True
    assert document["machine"]["load_before"] == [0.5, 0.6, 0.7]


def test_the_table_shows_the_nine_measurements_and_the_targets() -> None:
    table = render(_report())
    for number in range(1, 10):
        assert f"| {number} |" in table
    assert "10,000/s" in table
    assert "0.80x (1)" in table
    assert "0.50x (1), 10.0x (2)" in table
    assert "p50 12 ms, p99 40 ms, p99.9 90 ms" in table
    assert "| 6b | raw passthrough latency at 2,500/s (as 6) | p50 8 ms, p99 16 ms, p99.9 30 ms |" in table
    assert "p99 of 6 is 2.5x this" in table
    assert "stall 80 ms (elsewhere 40 ms)" in table
    assert "load average 0.50 0.60 0.70 before, 1.50 1.00 0.80 after" in table
    assert table.count("| met |") == 3
