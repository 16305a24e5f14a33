"""The sizes of a benchmark run: the defaults, the ``--quick`` preset, and their checks."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Final

from fraudcore.model_kind import ModelKind

__all__ = ["DEFAULT", "QUICK", "BenchConfig"]


@dataclass(frozen=True)
class BenchConfig:
    """What one ``fraudstream bench`` run measures, and on how much data."""

    messages: int = 100_000
    """Transactions in the input topic of each throughput window (1, 3, 4) and of the backtest (8)."""
    naive_messages: int = 2_000
    """Transactions for the naive faust scorer (2): the first ones of the same stream (it is slow)."""
    partitions: int = 3
    """Partitions of every topic the benchmark creates."""
    batch_size: int = 500
    """The scorer's micro-batch (``--batch-size``), the passthrough's fetch and the in-memory batch."""
    live_seconds: float = 120.0
    """The paced phase: latency (6), hot-swap (7, at its middle) and the memory trend (9)."""
    customers: int = 2_000
    """Simulated customers (cards)."""
    terminals: int = 4_000
    """Simulated terminals."""
    model_kind: ModelKind = ModelKind.BOOSTING
    """Estimator of the real model (fitted on the benchmark's own stream)."""
    seed: int = 0
    """Simulation seed."""

    def problems(self) -> list[str]:
        """What is wrong with these sizes (empty when they are usable)."""
        checks = (
            (self.messages < 1_000, "--messages must be at least 1000"),
            (not 100 <= self.naive_messages <= self.messages, "--naive-messages must be within 100 and --messages"),
            (not 1 <= self.partitions <= 64, "--partitions must be within 1 and 64"),
            (not 1 <= self.batch_size <= 10_000, "--batch-size must be within 1 and 10000"),
            (self.live_seconds < 10, "--live-seconds must be at least 10"),
            (self.customers < 100 or self.terminals < 100, "--customers and --terminals must be at least 100"),
        )
        return [message for wrong, message in checks if wrong]

    def with_values(self, **values: Any) -> BenchConfig:
        """A copy with the given fields replaced (``None`` = not given)."""
        known = {field.name for field in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown bench settings: {unknown}")
        return replace(self, **{name: value for name, value in values.items() if value is not None})


DEFAULT: Final = BenchConfig()
QUICK: Final = BenchConfig(messages=20_000, naive_messages=500, live_seconds=30.0)
"""The ``--quick`` preset: 2-5 minutes on two cores, for the integration test and a first look."""
