"""Process-wide settings a scorer worker applies once it has loaded everything it keeps.

* Model threads: OpenMP and BLAS pools are capped at ``scorer_model_threads`` (default one). On the
  project's two-core machine HistGradientBoosting's default pool took half of a batch's time spinning
  for 500 rows that one thread scores in a few milliseconds.
* Garbage collection: the objects alive after start-up (modules, the models, the app) are frozen
  out of the collector's generations and the young generation is collected every 10,000
  allocations instead of 700. A scorer allocates many short-lived objects per batch and few
  cycles; a full collection walking the frozen start-up heap is what the default settings repeat.
  The cut in CPU per transaction is measured in ``BENCHMARKS.md``.
"""

from __future__ import annotations

import gc
from typing import Final

from threadpoolctl import threadpool_limits

__all__ = ["GC_THRESHOLDS", "tune_process"]

GC_THRESHOLDS: Final = (10_000, 50, 100)
"""Allocations before a young collection, and young/middle collections before the next generation's."""


def tune_process(model_threads: int) -> None:
    """Cap the model's thread pools and tune the garbage collector (call once, after start-up loading)."""
    threadpool_limits(limits=model_threads)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
