"""``fraudstream train``: the trainer, once on the history so far or continuously (with ``/metrics``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.local.errors import InfraError
from fraudcore.metrics_server import serve_metrics
from fraudcore.mlflow_store import forbid_pickle_loading
from fraudcore.model_kind import ModelKind
from fraudcore.settings import Settings
from fraudstream.overrides import with_overrides

if TYPE_CHECKING:
    from trainer.metrics import TrainerMetrics
    from trainer.service import Trainer

__all__ = ["add_parser", "train"]

EXIT_NOT_ENOUGH_HISTORY = 1


def add_parser(commands: Any) -> None:
    """Register ``train`` and its options (each overrides the matching FRAUD_* variable)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "train",
        help="retrain from the transactions and labels topics; promote when the gate says so",
        description="Read the transactions and labels topics, compute the features with the scorer's definition, "
        "train and evaluate a challenger under the prequential protocol, register it in MLflow, and promote it "
        "(with a reload broadcast to the scorers) when it beats the champion. Without --once it keeps following "
        "the topics and retrains every FRAUD_TRAINER_RETRAIN_EVERY_LABELS labels or "
        "FRAUD_TRAINER_RETRAIN_EVERY_DAYS days of event time; it counts the scorers' drift alarms on the "
        "model-events topic and, with --retrain-on-drift, retrains on one (at most once per cool-down); it serves "
        "Prometheus metrics on http://FRAUD_METRICS_HOST:FRAUD_TRAINER_METRICS_PORT/metrics (127.0.0.1:6070). "
        "With --once it serves no metrics and ignores drift alarms. With --cache-dir it keeps what it read in a "
        "Parquet cache there, and a restart reads only the offsets after it.",
    )
    parser.add_argument(
        "--once", action="store_true", help="train once on the history so far, then exit (no metrics server)"
    )
    parser.add_argument(
        "--kind", choices=[kind.value for kind in ModelKind], help="estimator (FRAUD_TRAINER_MODEL_KIND)"
    )
    parser.add_argument("--margin", type=float, help="required AP and CP@100 gain (FRAUD_PROMOTION_MARGIN)")
    parser.add_argument("--train-days", type=int, help="train window in days (FRAUD_TRAINER_TRAIN_DAYS)")
    parser.add_argument("--test-days", type=int, help="test window in days (FRAUD_TRAINER_TEST_DAYS)")
    parser.add_argument(
        "--retrain-on-drift",
        action="store_true",
        default=None,
        help="also retrain on a scorer's drift alarm (FRAUD_TRAINER_RETRAIN_ON_DRIFT)",
    )
    parser.add_argument(
        "--drift-cooldown",
        type=float,
        metavar="SECONDS",
        help="least wall time between two drift retrains (FRAUD_TRAINER_DRIFT_COOLDOWN_S, 3600)",
    )
    parser.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="port of /metrics (FRAUD_TRAINER_METRICS_PORT, 6070)"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="keep what was read in a Parquet cache there; a restart reads only newer records "
        "(FRAUD_TRAINER_CACHE_DIR)",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(handler=train)


def train(args: argparse.Namespace, settings: Settings) -> int:
    """Run the trainer; exit 1 when the history does not cover the windows yet (with --once), 3 when
    Kafka is unreachable or the metrics port is taken."""
    settings = with_overrides(
        settings,
        trainer_model_kind=args.kind,
        promotion_margin=args.margin,
        trainer_train_days=args.train_days,
        trainer_test_days=args.test_days,
        trainer_retrain_on_drift=args.retrain_on_drift,
        trainer_drift_cooldown_s=args.drift_cooldown,
        trainer_metrics_port=args.metrics_port,
        trainer_cache_dir=args.cache_dir,
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    forbid_pickle_loading()  # the champion is read with skops only; MLflow may not fall back to pickle either
    from trainer.metrics import TrainerMetrics

    metrics = TrainerMetrics()
    if args.once:
        return _once(_trainer(settings, metrics))
    with serve_metrics(  # first: a port in use stops the command before anything else starts
        metrics.registry,
        settings.metrics_host,
        settings.trainer_metrics_port,
        service="the trainer",
        setting="FRAUD_TRAINER_METRICS_PORT",
    ) as server:
        print(f"trainer: metrics on {server.url}", flush=True)
        asyncio.run(_follow(_trainer(settings, metrics)))
    return 0


def _trainer(settings: Settings, metrics: TrainerMetrics) -> Trainer:
    from fraudcore.local.health import require_kafka
    from fraudcore.mlflow_store import connect, require_store
    from fraudcore.models.keys import signing_key, verification_keys
    from trainer.service import Trainer
    from trainer.training import TrainingConfig

    signing_key(settings), verification_keys(settings)  # missing keys: a configuration error, before anything starts
    require_store(settings, must_exist=False)  # the first training creates a local store
    require_kafka(settings)
    try:
        topics = asyncio.run(ensure_project_topics(settings))
    except Exception as exc:
        raise InfraError(f"Kafka at {settings.bootstrap_servers} is not reachable: {exc}") from exc
    return Trainer(settings, topics, lambda: connect(settings), TrainingConfig.from_settings(settings), metrics=metrics)


def _once(trainer: Trainer) -> int:
    from trainer.service import NotEnoughHistory

    read = asyncio.run(trainer.catch_up())
    print(f"read {read:,} records: {len(trainer.history):,} transactions, {trainer.history.labels_received:,} labels")
    try:
        report = trainer.retrain()
    except NotEnoughHistory as exc:
        print(f"fraudstream train: {exc}", file=sys.stderr)
        return EXIT_NOT_ENOUGH_HISTORY
    if report.registered.promoted:
        asyncio.run(trainer.announce(report))
    print(report.summary())
    return 0


async def _follow(trainer: Trainer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print("trainer: following the transactions and labels topics (Ctrl-C stops)", flush=True)
    await trainer.run(stop, lambda report: print(report.summary(), flush=True))
