"""The backtest's pure steps on the simulated history: replay, rows, scores, evaluation, numbers."""

from __future__ import annotations

import asyncio
from functools import cache

from backtest.evaluation import ModelResult, evaluate_model
from backtest.history import Collector
from backtest.replay import replay
from backtest.results import BacktestNumbers
from backtest.rows import evaluation_rows
from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.features.memory import MemoryFeatureStore
from tests.unit.backtest.simulated import RANGE, collect, models

REVIEW, DECLINE = 0.5, 0.9


def numbers(collector: Collector | None = None, *, keep_known_compromised: bool = False) -> BacktestNumbers:
    """The numbers of a backtest of both models on the collected history (by default, all of it)."""
    if collector is None:
        return _default_numbers(keep_known_compromised)
    return _numbers(collector, keep_known_compromised)


@cache
def _default_numbers(keep_known_compromised: bool) -> BacktestNumbers:
    return _numbers(collect(), keep_known_compromised)


def _numbers(collector: Collector, keep_known_compromised: bool) -> BacktestNumbers:
    history = collector.history()
    matrix = asyncio.run(replay(MemoryFeatureStore(), history, DEFAULT_SPEC))
    rows = evaluation_rows(history, RANGE, keep_known_compromised=keep_known_compromised)
    results: list[ModelResult] = []
    for model in models():
        scores = model.loaded.bundle.score(matrix[rows.in_range])
        results.append(evaluate_model(model, rows, scores, review=REVIEW, decline=DECLINE, k=100))
    return BacktestNumbers(
        time_range=RANGE,
        spec=DEFAULT_SPEC,
        review=REVIEW,
        decline=DECLINE,
        k=100,
        keep_known_compromised=keep_known_compromised,
        stats=collector.stats,
        rows=rows,
        results=results,
    )
