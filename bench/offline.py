"""The two measurements without a scorer process: batch scoring of features already in memory, and
the backtest's replay of the same transactions from Kafka (its own code, in process)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.errors import BenchError
from bench.lanes import Lane
from bench.workload import Backlog
from fraudcore.models import ModelBundle

__all__ = ["BacktestRate", "InMemoryRate", "backtest_rate", "in_memory_rate"]

_MIN_SECONDS = 2.0


@dataclass(frozen=True)
class InMemoryRate:
    """Rows per second of the model's batch ``predict_proba`` on a feature matrix in memory."""

    rows: int
    seconds: float
    rate: float


def in_memory_rate(bundle: ModelBundle, matrix: npt.NDArray[np.float64], batch_size: int) -> InMemoryRate:
    """Score ``matrix`` in batches of ``batch_size`` (repeated until two seconds have passed)."""
    rows, began = 0, time.perf_counter()
    while rows == 0 or time.perf_counter() - began < _MIN_SECONDS:
        for at in range(0, len(matrix), batch_size):
            bundle.score(matrix[at : at + batch_size])
        rows += len(matrix)
    seconds = time.perf_counter() - began
    return InMemoryRate(rows, seconds, rows / seconds)


@dataclass(frozen=True)
class BacktestRate:
    """Transactions per second of a backtest: reading the topics, replaying the features, scoring."""

    transactions: int
    seconds: float
    """Read + replay + score (the evaluation and the report are left out)."""
    rate: float
    stage_seconds: dict[str, float]
    """Every stage the backtest timed."""


def backtest_rate(lane: Lane, model_name: str, version: str, backlog: Backlog) -> BacktestRate:
    """Backtest version ``version`` of ``model_name`` on the lane's topics, which hold the backlog's
    transactions and labels, over the backlog's event-time range (in-memory feature store)."""
    from backtest.models import ModelRef
    from backtest.progress import Progress
    from backtest.run import BacktestConfig, BacktestError, run_backtest
    from backtest.timerange import TimeRange

    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-backtest-") as scratch:
        config = BacktestConfig(
            time_range=TimeRange.between(backlog.first_event, backlog.last_event + timedelta(milliseconds=1)),
            models=(ModelRef(model_name, version=version),),
            output_dir=Path(scratch),
        )
        try:
            outcome = run_backtest(config, lane.settings, Progress(quiet=True))
        except BacktestError as error:
            raise BenchError(f"backtest: {error.message}") from error
    stages = dict(outcome.info.seconds)
    seconds = sum(stages[name] for name in ("read", "replay", "score"))
    transactions = outcome.info.transactions_replayed
    return BacktestRate(transactions, seconds, transactions / seconds, stages)
