"""``fraudstream backtest``: replay a time range of the topics through one or several model versions."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from backtest.models import ModelRef
from backtest.timerange import parse_moment
from fraudcore.settings import Settings
from fraudstream.overrides import with_overrides

__all__ = ["add_parser", "backtest"]

EXIT_USAGE = 2


def _moment(text: str) -> datetime:
    try:
        return parse_moment(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _model(text: str) -> ModelRef:
    try:
        return ModelRef.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _slack(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 24 * 365:
        raise argparse.ArgumentTypeError(f"{text} must be within 0 and 8760 hours")
    return value


def add_parser(commands: Any) -> None:
    """Register ``backtest`` and its options."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "backtest",
        help="replay a time range of the topics through model versions; report the metrics side by side",
        description="Read the transactions and labels of a time range from the topics (no consumer group, nothing "
        "committed), replay them in event-time order through the scorer's feature code into a store of the "
        "backtest's own (the live online features are not touched), score every transaction in range with each "
        "model, join the labels, and write a JSON file of the numbers (identical on rerun) and a self-contained "
        "HTML report with plots. The features' look-back (30 days per card, 30 + label delay per terminal) is "
        "read before the range; only transactions inside it are evaluated. Exit codes: 0 done, 1 the data or a "
        "model does not allow the backtest, 2 bad arguments or configuration, 3 a service is unreachable.",
        epilog="example: fraudstream backtest --from 2018-08-01 --to 2018-09-01 "
        "--model models:/fraud@champion --model models:/fraud/7",
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=_moment,
        required=True,
        metavar="DATE",
        help="first event time of the range (ISO date or date-time, UTC unless an offset is given)",
    )
    parser.add_argument(
        "--to", dest="end", type=_moment, required=True, metavar="DATE", help="end of the range (excluded)"
    )
    parser.add_argument(
        "--model",
        dest="models",
        type=_model,
        action="append",
        metavar="REF",
        help="models:/NAME@ALIAS or models:/NAME/VERSION (repeatable; default: models:/<FRAUD_MODEL_NAME>@champion)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="folder for backtest.html and backtest.json (default: backtest-<from>-<to>)",
    )
    parser.add_argument(
        "--store",
        choices=("memory", "redis"),
        default="memory",
        help="where the replayed feature history lives: in memory (default) or a Redis namespace of its own",
    )
    parser.add_argument(
        "--redis-namespace",
        metavar="NS",
        help="with --store redis: an unused namespace (default: <FRAUD_REDIS_NAMESPACE>-backtest-<random>)",
    )
    parser.add_argument(
        "--verdicts-topic", metavar="TOPIC", help="also write the verdicts (one per model and transaction) to TOPIC"
    )
    parser.add_argument(
        "--review-threshold", type=float, metavar="SCORE", help="review cut-off (FRAUD_REVIEW_THRESHOLD)"
    )
    parser.add_argument(
        "--decline-threshold", type=float, metavar="SCORE", help="decline cut-off (FRAUD_DECLINE_THRESHOLD)"
    )
    parser.add_argument(
        "--keep-known-compromised",
        action="store_true",
        help="also evaluate the transactions of cards already known to be compromised: a fraud of theirs "
        "since the look-back's start was labelled before (left out by default, as in the trainer's test windows)",
    )
    parser.add_argument(
        "--slack-hours",
        type=_slack,
        default=24.0,
        metavar="H",
        help="how far after its Kafka timestamp an event time may lie, for finding where to start reading (24)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=backtest)


def backtest(args: argparse.Namespace, settings: Settings) -> int:
    """Run the backtest and print its summary; a clear message and exit code 1 or 2 when it cannot run."""
    settings = with_overrides(
        settings, review_threshold=args.review_threshold, decline_threshold=args.decline_threshold
    )
    from backtest.timerange import TimeRange

    try:
        time_range = TimeRange.between(args.start, args.end)
    except ValueError as error:
        print(f"fraudstream backtest: {error}: --from must be before --to", file=sys.stderr)
        return EXIT_USAGE
    if args.redis_namespace is not None and args.store != "redis":
        print("fraudstream backtest: --redis-namespace needs --store redis", file=sys.stderr)
        return EXIT_USAGE
    models = args.models or [ModelRef(settings.model_name, alias="champion")]
    repeated = sorted({str(ref) for ref in models if models.count(ref) > 1})
    if repeated:
        print(f"fraudstream backtest: --model {', '.join(repeated)} is given more than once", file=sys.stderr)
        return EXIT_USAGE
    from backtest.arguments import verdicts_topic_problem
    from schemas.topics import Topics

    problem = verdicts_topic_problem(args.verdicts_topic, Topics.with_prefix(settings.topic_prefix))
    if problem is not None:
        print(f"fraudstream backtest: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.redis_namespace is not None:
        from backtest.stores import StoreRefused, check_namespace

        try:
            check_namespace(args.redis_namespace, settings)
        except StoreRefused as refused:
            print(f"fraudstream backtest: {refused}", file=sys.stderr)
            return EXIT_USAGE
    from fraudcore.local.health import require_kafka, require_redis
    from fraudcore.mlflow_store import require_store

    require_store(settings)  # before the heavy imports: an unreachable service is told within the bound
    require_kafka(settings)
    if args.store == "redis":
        require_redis(settings)
    from backtest.progress import Progress
    from backtest.run import BacktestConfig, BacktestError, run_backtest
    from backtest.stores import StoreKind
    from backtest.summary import summary

    output = args.output or Path(f"backtest-{args.start:%Y%m%d}-{args.end:%Y%m%d}")
    config = BacktestConfig(
        time_range=time_range,
        models=tuple(models),
        output_dir=output,
        store=StoreKind(args.store),
        redis_namespace=args.redis_namespace,
        verdicts_topic=args.verdicts_topic,
        slack_ms=round(args.slack_hours * 3_600_000),
        keep_known_compromised=args.keep_known_compromised,
    )
    try:
        outcome = run_backtest(config, settings, Progress(quiet=args.quiet))
    except BacktestError as error:
        print(f"fraudstream backtest: {error.message}", file=sys.stderr)
        return error.exit_code
    print(summary(outcome.numbers, outcome.results, outcome.info, outcome.html_path, outcome.json_path))
    return 0
