"""``fraudstream bench sizing``: what the online store, the scorer and the trainer cost per card,
terminal and transaction, measured on a long simulated history."""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from bench.sizing_config import SIZING_DEFAULT
from fraudcore.model_kind import ModelKind
from fraudcore.settings import Settings
from fraudstream.argument_types import bounded
from fraudstream.bench_running import run_reported

__all__ = ["add_parser", "sizing"]

_DESCRIPTION = """\
Stream a simulated history (the producer's simulator: --customers cards paying --tx-per-card-day
times a day on average at --terminals terminals, for --days days, every transaction labelled one label
delay later unless --label-fraction says less) through the scorer's own batch code (decode, event-time
clock, feature store with the clock passed, the real model, verdicts) into a private redis-server
started for the run (snapshots off, stopped at the end), and report: Redis bytes per active card, per
active terminal and per transaction in the longest window; store memory after day N and after day N/2
(their ratio: flatness in event time); a census of the store's key families (MEMORY USAGE of sampled
keys); scorer and Redis CPU per transaction, and a `fraudstream score` worker's through Kafka on the
first --full-path transactions; and, unless --no-trainer, the trainer's peak memory
(`fraudstream train --once` after day N and after day N/2, or after the first day its windows fit in
the history when that is later), through the configured Kafka and MLflow, started if they are not
running, on topics of the run; the run's topics, keys and models are removed at the end.

The defaults are a quick look (under a minute of streaming); a comparison: --customers 2000
--terminals 4000 --days 60 (the memory is flat in event time only once N/2 covers the longest
retention, about 45 days). Prints progress, then the table; --json FILE writes every figure and the
memory of each day. Exit codes: 0 measured, 1 a measurement failed, 2 bad arguments, 3 the
infrastructure could not start.
"""


def add_parser(parts: Any) -> None:
    """Register ``sizing`` under ``bench``."""
    parser: argparse.ArgumentParser = parts.add_parser(
        "sizing",
        help="memory, CPU and trainer memory per card, terminal and transaction on a long simulated history",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = SIZING_DEFAULT
    number = partial(_number, parser)
    number("--customers", int, 10, 10_000_000, "N", f"simulated cards (default {d.customers})")
    number("--terminals", int, 10, 10_000_000, "N", f"simulated terminals (default {d.terminals})")
    number("--days", int, 2, 3_650, "N", f"simulated days of history (default {d.days})")
    number(
        "--tx-per-card-day",
        float,
        0.001,
        1_000,
        "RATE",
        f"mean payments per card and day (default {d.tx_per_card_day:g})",
    )
    number("--label-fraction", float, 0, 1, "SHARE", f"share of transactions labelled (default {d.label_fraction:g})")
    number("--batch-size", int, 1, 10_000, "N", f"transactions per scorer micro-batch (default {d.batch_size})")
    number("--sample-keys", int, 1, 1_000_000, "N", f"keys weighed per key family (default {d.sample_keys})")
    number(
        "--full-path",
        int,
        0,
        10_000_000,
        "N",
        f"first transactions also scored through Kafka by fraudstream score (0: not; default {d.full_path})",
    )
    number("--seed", int, 0, 2**31 - 1, "N", f"simulation seed (default {d.seed})")
    parser.add_argument(
        "--model-kind",
        choices=[kind.value for kind in ModelKind],
        help="estimator of the scorer's model (default: FRAUD_TRAINER_MODEL_KIND, boosting)",
    )
    parser.add_argument("--no-trainer", action="store_true", help="skip the trainer's memory (no Kafka, no MLflow)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure to FILE (JSON)")
    parser.add_argument("--stop-infra", action="store_true", help="stop Kafka, Redis and MLflow at the end")
    parser.set_defaults(handler=sizing)


def _number(
    parser: argparse.ArgumentParser,
    flag: str,
    kind: type[int] | type[float],
    low: float,
    high: float,
    metavar: str,
    what: str,
) -> None:
    parser.add_argument(flag, type=bounded(kind, low, high), metavar=metavar, help=what)


def sizing(args: argparse.Namespace, settings: Settings) -> int:
    """Run the sizing bench; print the table (and write the JSON file)."""
    given = {
        name: getattr(args, name)
        for name in (
            "customers",
            "terminals",
            "days",
            "tx_per_card_day",
            "label_fraction",
            "batch_size",
            "sample_keys",
            "full_path",
            "seed",
        )
        if getattr(args, name) is not None
    }
    kind = ModelKind(args.model_kind) if args.model_kind else settings.trainer_model_kind
    config = replace(SIZING_DEFAULT, **given, model_kind=kind, trainer=not args.no_trainer)
    from bench.sizing import run_sizing
    from bench.sizing_report import SizingReport

    return run_reported(
        "fraudstream bench sizing",
        args,
        settings,
        config.problems(),
        partial(run_sizing, config, settings),
        SizingReport.render,
        needs_services=config.needs_services,
    )
