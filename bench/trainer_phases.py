"""The trainer's phases on the configured topics, timed: read, prune and snapshot, features, fit.

``python -m bench.trainer_phases [--read-only]`` with the usual ``FRAUD_*`` settings: what
``fraudstream train --once`` does, without registering, with each phase's wall time and the peak
resident memory after it. With ``FRAUD_TRAINER_CACHE_DIR``, the read loads and saves the history
cache (their times are logged).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import time

from fraudcore.features.definition import DAY_MS
from fraudcore.settings import Settings
from schemas.topics import Topics
from trainer.service import Trainer
from trainer.training import TrainingConfig, build_dataset, train_and_evaluate


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _unused_registry() -> object:
    raise RuntimeError("the phases never register")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--read-only", action="store_true", help="stop after the snapshot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    settings = Settings()
    config = TrainingConfig.from_settings(settings)
    trainer = Trainer(settings, Topics.with_prefix(settings.topic_prefix), _unused_registry, config)  # type: ignore[arg-type]
    started = time.perf_counter()
    read = asyncio.run(trainer.catch_up())
    elapsed = time.perf_counter() - started
    history = trainer.history  # after the read: loading a history cache replaces it
    print(
        f"read: {read:,} records in {elapsed:.1f} s ({read / elapsed:,.0f}/s), {len(history):,} transactions held, "
        f"{history.labels_received:,} labels taken, {history.refused_labels:,} refused, "
        f"{history.waiting_labels:,} waiting; peak {_peak_mb():,} MB",
        flush=True,
    )
    started = time.perf_counter()
    history.prune(history.clock_ms - config.horizon_days * DAY_MS)
    snapshot = history.snapshot()
    print(f"prune + snapshot: {time.perf_counter() - started:.1f} s, {len(snapshot):,} rows; peak {_peak_mb():,} MB")
    if args.read_only:
        return
    started = time.perf_counter()
    data = build_dataset(snapshot, config.spec)
    print(f"features: {time.perf_counter() - started:.1f} s; peak {_peak_mb():,} MB", flush=True)
    started = time.perf_counter()
    outcome = train_and_evaluate(data, config, None)
    print(
        f"fit and evaluate ({config.folds} folds, {config.kind}): {time.perf_counter() - started:.1f} s, "
        f"{outcome.train_rows:,} training rows in fold 0; peak {_peak_mb():,} MB"
    )


if __name__ == "__main__":
    main()
