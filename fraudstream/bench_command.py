"""``fraudstream bench``: the scorer's performance against the real local Kafka and Redis."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from bench.config import DEFAULT, QUICK
from fraudcore.model_kind import ModelKind
from fraudcore.settings import Settings
from fraudstream import sizing_command
from fraudstream.argument_types import bounded
from fraudstream.bench_running import run_reported

__all__ = ["add_parser", "bench"]

_DESCRIPTION = """\
Measure, in one run on this machine, against the real Kafka and Redis (started if they are not
running): (1) a raw aiokafka passthrough (consume, decode, encode, produce), the reference; (2) a
naive faust scorer written the way peer projects write one (one message at a time, a Redis round
trip and a predict_proba call per message), the peer baseline; (3) the fraudstream scorer with a
trivial model and features in memory (framework efficiency); (4) the fraudstream scorer with full
scoring (Redis features, the real model, verdicts), and (4b) the same with each micro-batch one
chunk (no overlap of Redis's work with the scorer's); (5) batch predict_proba on features already in
memory; (6) end-to-end latency at half the rate of (4), and (6b) the raw passthrough's at the same
rate (the Kafka hops alone); (7) the verdict stall around a model hot-swap under that load; (8) a
backtest replaying the same transactions; (9) the scorer's peak memory and its trend; (10) full
scoring by two workers sharing the partitions (scale-out).

Each variant runs as its own process on a pre-filled topic of its own (topics, consumer group, Redis
namespace and model all under a fresh bench-<id> prefix, removed at the end); rates are timed from
the broker's append times of the first and last outputs, so start-up is not counted. Prints progress,
then a table of the measurements, their ratios and the targets; --json FILE writes them all.
Exit codes: 0 measured, 1 a measurement failed, 2 bad arguments, 3 the infrastructure could not start.

`fraudstream bench sizing` (its own --help) measures instead what the online store, the scorer and
the trainer cost per card, terminal and transaction on a long simulated history.
"""


def _option(
    parser: argparse.ArgumentParser,
    flag: str,
    kind: type[int] | type[float],
    low: float,
    high: float,
    metavar: str,
    what: str,
) -> None:
    field = flag.removeprefix("--").replace("-", "_")
    default, quick = getattr(DEFAULT, field), getattr(QUICK, field)
    shown = f"{default:g}" if isinstance(default, float) else str(default)
    preset = f"; --quick: {quick:g}" if quick != default else ""
    parser.add_argument(flag, type=bounded(kind, low, high), metavar=metavar, help=f"{what} (default {shown}{preset})")


def add_parser(commands: Any) -> None:
    """Register ``bench`` and its options."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "bench",
        help="measure throughput, latency, hot-swap stall and memory of the scorer against peers and raw Kafka",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes (2-5 minutes on two cores): the --quick values below (default run: 5-10 minutes)",
    )
    _option(parser, "--messages", int, 1_000, 10_000_000, "N", "transactions per throughput window and backtest")
    _option(parser, "--naive-messages", int, 100, 10_000_000, "N", "transactions for the naive faust scorer (2)")
    _option(parser, "--partitions", int, 1, 64, "N", "partitions of every topic the run creates")
    _option(parser, "--batch-size", int, 1, 10_000, "N", "scorer micro-batch, passthrough fetch, in-memory batch")
    _option(parser, "--live-seconds", float, 10, 86_400, "SECONDS", "paced phase: latency, hot-swap, memory trend")
    _option(parser, "--customers", int, 100, 1_000_000, "N", "simulated customers")
    _option(parser, "--terminals", int, 100, 1_000_000, "N", "simulated terminals")
    _option(parser, "--seed", int, 0, 2**31 - 1, "N", "simulation seed")
    parser.add_argument(
        "--model-kind",
        choices=[kind.value for kind in ModelKind],
        help="estimator of the real model (default: FRAUD_TRAINER_MODEL_KIND, boosting)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every measurement to FILE (JSON)")
    parser.add_argument("--stop-infra", action="store_true", help="stop Kafka, Redis and MLflow at the end")
    parser.set_defaults(handler=bench)
    parts = parser.add_subparsers(dest="bench_part", metavar="PART", required=False)
    sizing_command.add_parser(parts)


def bench(args: argparse.Namespace, settings: Settings) -> int:
    """Run the benchmark; print the table (and write the JSON file)."""
    config = (QUICK if args.quick else DEFAULT).with_values(
        messages=args.messages,
        naive_messages=args.naive_messages,
        partitions=args.partitions,
        batch_size=args.batch_size,
        live_seconds=args.live_seconds,
        customers=args.customers,
        terminals=args.terminals,
        seed=args.seed,
        model_kind=ModelKind(args.model_kind) if args.model_kind else settings.trainer_model_kind,
    )
    from bench.runner import run_bench
    from bench.table import render

    return run_reported(
        "fraudstream bench", args, settings, config.problems(), partial(run_bench, config, settings), render
    )
