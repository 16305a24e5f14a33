"""Garbage-collector settings for the project's allocation-heavy work: scoring micro-batches and
decoding a whole history for a backtest.

Both allocate many objects and create few reference cycles. With the default thresholds the
collector runs every 700 allocations and keeps re-walking what survived (the start-up heap, the
history decoded so far). Freezing the objects alive at the start moves them out of the collector's
generations. Collecting the young generation every 10,000 allocations does the rest. The gains are
measured in ``BENCHMARKS.md``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["GC_THRESHOLDS", "fewer_collections", "tune_collector"]

GC_THRESHOLDS: Final = (10_000, 50, 100)
"""Allocations before a young collection, and young/middle collections before the next generation's."""


def tune_collector() -> None:
    """Collect once, freeze every object alive, then apply :data:`GC_THRESHOLDS` (for the process's life)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """:func:`tune_collector` for the block; afterwards the previous thresholds apply and the frozen
    objects are handed back to the collector (unless the process had frozen some before: a tuned
    process keeps its frozen start-up heap)."""
    previous, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    tune_collector()
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        if not frozen_before:
            gc.unfreeze()
