"""``fraudstream train``: the trainer, once on the history so far or continuously."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.local.errors import InfraError
from fraudcore.settings import Settings
from fraudstream.overrides import with_overrides

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
        "FRAUD_TRAINER_RETRAIN_EVERY_DAYS days of event time.",
    )
    parser.add_argument("--once", action="store_true", help="train once on the history so far, then exit")
    parser.add_argument(
        "--kind", choices=("boosting", "forest", "logistic"), help="estimator (FRAUD_TRAINER_MODEL_KIND)"
    )
    parser.add_argument("--margin", type=float, help="required AP and CP@100 gain (FRAUD_PROMOTION_MARGIN)")
    parser.add_argument("--train-days", type=int, help="train window in days (FRAUD_TRAINER_TRAIN_DAYS)")
    parser.add_argument("--test-days", type=int, help="test window in days (FRAUD_TRAINER_TEST_DAYS)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(handler=train)


def train(args: argparse.Namespace, settings: Settings) -> int:
    """Run the trainer; exit 1 when the history does not cover the windows yet (with --once)."""
    settings = with_overrides(
        settings,
        trainer_model_kind=args.kind,
        promotion_margin=args.margin,
        trainer_train_days=args.train_days,
        trainer_test_days=args.test_days,
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from fraudcore.mlflow_store import connect
    from trainer.service import NotEnoughHistory, Trainer
    from trainer.training import TrainingConfig

    try:
        topics = asyncio.run(ensure_project_topics(settings))
    except Exception as exc:
        raise InfraError(f"Kafka at {settings.bootstrap_servers} is not reachable: {exc}") from exc
    trainer = Trainer(settings, topics, lambda: connect(settings), TrainingConfig.from_settings(settings))
    if args.once:
        read = asyncio.run(trainer.catch_up())
        print(
            f"read {read:,} records: {len(trainer.history):,} transactions, {trainer.history.labels_received:,} labels"
        )
        try:
            report = trainer.retrain()
        except NotEnoughHistory as exc:
            print(f"fraudstream train: {exc}", file=sys.stderr)
            return EXIT_NOT_ENOUGH_HISTORY
        if report.registered.promoted:
            asyncio.run(trainer.announce(report))
        print(report.summary())
        return 0
    asyncio.run(_follow(trainer))
    return 0


async def _follow(trainer: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print("trainer: following the transactions and labels topics (Ctrl-C stops)", flush=True)
    await trainer.run(stop, lambda report: print(report.summary(), flush=True))
