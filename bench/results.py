"""Everything one run measured, the ratios between the measurements, the targets, and the JSON form."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

from bench.config import BenchConfig
from bench.live import Latency, LivePhase
from bench.memory import MemoryTrend
from bench.offline import BacktestRate, InMemoryRate
from bench.throughput import Throughput

__all__ = ["BenchReport", "Machine", "Target"]

FRAMEWORK_TO_RAW: Final = 0.7
FULL_TO_RAW: Final = 0.4
FULL_TO_NAIVE: Final = 10.0


@dataclass(frozen=True)
class Machine:
    """Where and under which load the run happened."""

    cpus: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    python: str = field(default_factory=platform.python_version)
    system: str = field(default_factory=platform.platform)

    @classmethod
    def observe(cls, load_before: tuple[float, float, float]) -> Machine:
        """This machine, with the load average taken before the run and now."""
        return cls(os.cpu_count() or 1, load_before, os.getloadavg())


@dataclass(frozen=True)
class Target:
    """A ratio of two measurements of the same run, against its target."""

    name: str
    measured: float
    threshold: float

    @property
    def met(self) -> bool:
        """Whether the measured ratio reaches the threshold."""
        return self.measured >= self.threshold


@dataclass(frozen=True)
class BenchReport:
    """The measurements of one run."""

    command: str
    started_at: datetime
    config: BenchConfig
    machine: Machine
    raw: Throughput
    naive: Throughput
    framework: Throughput
    full: Throughput
    whole_batches: Throughput
    """Full scoring as (4) with each micro-batch one chunk: no overlap of Redis and the scorer's work."""
    in_memory: InMemoryRate
    live: LivePhase
    raw_latency: Latency
    """The raw passthrough's latency at the rate of the paced phase (the Kafka hops alone)."""
    backtest: BacktestRate
    memory: MemoryTrend
    two_workers: Throughput

    def ratios(self) -> dict[str, float]:
        """Each ratio the report states, computed from this run's rates."""
        full = self.full.rate
        return {
            "naive_to_raw": self.naive.rate / self.raw.rate,
            "framework_to_raw": self.framework.rate / self.raw.rate,
            "full_to_raw": full / self.raw.rate,
            "full_to_naive": full / self.naive.rate,
            "full_to_whole_batches": full / self.whole_batches.rate,
            "in_memory_to_full": self.in_memory.rate / full,
            "backtest_to_full": self.backtest.rate / full,
            "paced_to_full": self.live.latency.achieved_rate / full,
            "p99_to_raw_p99": self.live.latency.p99_ms / max(self.raw_latency.p99_ms, 1.0),
            "two_workers_to_full": self.two_workers.rate / full,
        }

    def targets(self) -> list[Target]:
        """The targets, each against this run's ratio."""
        ratios = self.ratios()
        return [
            Target("framework efficiency (3) / raw passthrough (1)", ratios["framework_to_raw"], FRAMEWORK_TO_RAW),
            Target("full scoring (4) / raw passthrough (1)", ratios["full_to_raw"], FULL_TO_RAW),
            Target("full scoring (4) / naive faust scorer (2)", ratios["full_to_naive"], FULL_TO_NAIVE),
        ]

    def document(self) -> dict[str, Any]:
        """The JSON document of ``--json``."""
        live = self.live
        return {
            "command": self.command,
            "started_at": self.started_at.isoformat(),
            "config": asdict(self.config) | {"model_kind": self.config.model_kind.value},
            "machine": asdict(self.machine),
            "measurements": {
                "raw_passthrough": asdict(self.raw),
                "naive_faust": asdict(self.naive),
                "framework": asdict(self.framework),
                "full_scoring": asdict(self.full),
                "full_scoring_whole_batches": asdict(self.whole_batches),
                "in_memory_scoring": asdict(self.in_memory),
                "latency": asdict(live.latency),
                "raw_passthrough_latency": asdict(self.raw_latency),
                "hot_swap": asdict(live.swap),
                "backtest": asdict(self.backtest),
                "memory": asdict(self.memory),
                "two_workers": asdict(self.two_workers),
            },
            "ratios": self.ratios(),
            "targets": [asdict(target) | {"met": target.met} for target in self.targets()],
        }
