"""The replay gives the offline features, whatever the chunking, and the look-back is enough."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from backtest.replay import replay
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, FeatureSpec, LabelFacts, TxFacts
from fraudcore.features.memory import MemoryFeatureStore
from tests.unit.backtest.simulated import RANGE, events, history, offline


def _replayed(chunk_size: int, span_ms: int, spec: FeatureSpec = DEFAULT_SPEC) -> np.ndarray:
    progress: list[int] = []
    matrix = asyncio.run(
        replay(
            MemoryFeatureStore(spec),
            history(),
            spec,
            chunk_size=chunk_size,
            chunk_span_ms=span_ms,
            on_progress=progress.append,
        )
    )
    assert sum(progress) == len(history().transactions)
    return matrix


@pytest.mark.parametrize(
    ("chunk_size", "span_ms"), [(1, DAY_MS), (7, 3_600_000), (5_000, DAY_MS), (5_000, 0), (100_000, 30 * DAY_MS)]
)
def test_chunks_give_the_offline_features_of_the_same_rows(chunk_size: int, span_ms: int) -> None:
    data = history()
    expected = offline(data.transactions, list(data.labels.values()))
    np.testing.assert_array_equal(_replayed(chunk_size, span_ms), expected)


def test_a_chunk_never_spans_more_than_the_allowed_lateness() -> None:
    spec = FeatureSpec(allowed_lateness_days=0)
    data = history()
    expected = offline_features_with(spec)
    np.testing.assert_array_equal(_replayed(5_000, 30 * DAY_MS, spec), expected)
    assert len(expected) == len(data.transactions)


def offline_features_with(spec: FeatureSpec) -> np.ndarray:
    from fraudcore.features.memory import offline_features

    data = history()
    return offline_features(data.transactions, list(data.labels.values()), spec)


def test_features_in_range_equal_those_of_the_whole_history() -> None:
    transactions, labels = events()
    everything = sorted(map(TxFacts.of, transactions), key=lambda f: (f.event_time_ms, f.transaction_id))
    full = offline(everything, [LabelFacts.of(label) for label in labels])
    in_range = [i for i, f in enumerate(everything) if RANGE.contains(f.event_time_ms)]
    data = history()
    mine = _replayed(5_000, DAY_MS)
    replayed_in_range = [i for i, f in enumerate(data.transactions) if RANGE.contains(f.event_time_ms)]
    assert [everything[i] for i in in_range] == [data.transactions[i] for i in replayed_in_range]
    np.testing.assert_array_equal(mine[replayed_in_range], full[in_range])
    assert len(data.transactions) < len(everything)  # the replay did start after the history's beginning


def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        asyncio.run(replay(MemoryFeatureStore(), history(), DEFAULT_SPEC, chunk_size=0))
