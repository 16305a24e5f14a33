"""The collector settings: applied inside the block, the previous ones restored after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fraudcore.collector_tuning import GC_THRESHOLDS, fewer_collections


@pytest.fixture
def default_collector() -> Iterator[None]:
    """Leave the test process's collector as it was found."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


@pytest.mark.usefixtures("default_collector")
def test_the_block_runs_with_fewer_collections_and_a_frozen_heap() -> None:
    kept = [object()]
    with fewer_collections():
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert not any(alive is kept for generation in range(3) for alive in gc.get_objects(generation=generation))
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
    assert any(alive is kept for alive in gc.get_objects())


@pytest.mark.usefixtures("default_collector")
def test_the_previous_settings_return_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the backtest failed")
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
