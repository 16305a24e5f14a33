"""Process-wide settings a scorer worker applies once it has loaded everything it keeps.

* Model threads: OpenMP and BLAS pools are capped at ``scorer_model_threads`` (default one). On the
  project's two-core machine HistGradientBoosting's default pool took half of a batch's time spinning
  for 500 rows that one thread scores in a few milliseconds.
* Garbage collection: the start-up heap (modules, the models, the app) is frozen and young
  collections are rarer (:func:`fraudcore.collector_tuning.tune_collector`). A scorer allocates many
  short-lived objects per batch and few cycles; a full collection walking the frozen start-up heap
  is what the default settings repeat. The cut in CPU per transaction is measured in
  ``BENCHMARKS.md``.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits

from fraudcore.collector_tuning import tune_collector

__all__ = ["tune_process"]


def tune_process(model_threads: int) -> None:
    """Cap the model's thread pools and tune the garbage collector (call once, after start-up loading)."""
    threadpool_limits(limits=model_threads)
    tune_collector()
