"""The sizing table of ``docs/sizing.md``, derived from a ``fraudstream bench sizing --json`` file.

Usage: ``python -m bench.sizing_table SIZING.json [--rates 100 1000 10000] [--kafka-us-per-tx US]``.

Each rate ``R`` (transactions per second) is served by the measured population scaled up: as many
cards as make ``R`` at the measured payments per card and day, terminals in the measured ratio to
cards. So every per-transaction figure of the run carries over, and:

- Redis memory = ``R x 86,400 x longest window (days) x bytes per transaction in the window``;
- Redis CPU (cores) = ``R x Redis CPU per transaction``; one Redis runs on one core;
- scorer cores = ``R x`` a ``fraudstream score`` worker's CPU per transaction through Kafka (the run's
  full path), or, when the run did not measure it, ``R x (scorer CPU per transaction + Kafka client
  CPU per transaction)``, the latter the raw passthrough of ``fraudstream bench`` (one core's
  reciprocal rate: consume, decode, encode, produce);
- trainer memory = its fixed part (the peak after day N less the slope times the transactions held)
  + ``R x 86,400 x trainer horizon (days) x bytes per transaction held`` (the slope).

Denser cards or terminals than the run's (more payments each per day) need no more memory per
transaction than measured where state is kept per transaction, and less where it is kept per tile.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "rows", "table"]

_DAY_S = 86_400
_RAW_PASSTHROUGH_US = 1e6 / 28_115
"""Kafka client CPU per transaction: the raw passthrough's rate of BENCHMARKS.md (one core)."""


def rows(document: dict[str, Any], rates: Sequence[float], kafka_us: float) -> list[dict[str, float]]:
    """One row of derived sizes per rate."""
    figures, totals, config = document["figures"], document["totals"], document["config"]
    windows = document["windows"]
    tx_per_card_day = totals["transactions"] / (config["days"] * config["customers"])
    terminals_per_card = config["terminals"] / config["customers"]
    marginal = figures.get("trainer_marginal_bytes_per_tx")
    trainer = document.get("trainer") or []
    fixed = trainer[-1]["peak_rss_bytes"] - marginal * trainer[-1]["transactions_read"] if marginal else None
    out = []
    for rate in rates:
        per_day = rate * _DAY_S
        cards = per_day / tx_per_card_day
        window_tx = per_day * windows["longest_days"]
        held = per_day * windows["trainer_horizon_days"]
        out.append(
            {
                "rate": rate,
                "cards": cards,
                "terminals": cards * terminals_per_card,
                "window_tx": window_tx,
                "redis_bytes": window_tx * figures["bytes_per_tx_in_window"],
                "redis_cores": rate * figures["redis_cpu_us_per_tx"] / 1e6,
                "scorer_cores": rate * _scorer_us(figures, kafka_us) / 1e6,
                "trainer_tx": held,
                "trainer_bytes": fixed + held * marginal if marginal and fixed is not None else math.nan,
            }
        )
    return out


def _scorer_us(figures: dict[str, Any], kafka_us: float) -> float:
    """A worker's CPU per transaction: measured through Kafka when the run did, else the batch code's
    plus the Kafka client's."""
    full_path = figures.get("full_path_cpu_us_per_tx")
    return float(full_path) if full_path else float(figures["scorer_cpu_us_per_tx"]) + kafka_us


def _gb(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value / 1e9:,.1f} GB"


def _count(value: float) -> str:
    return f"{value / 1e6:,.1f} M" if value >= 1e6 else f"{value:,.0f}"


def table(document: dict[str, Any], rates: Sequence[float], kafka_us: float) -> str:
    """The Markdown table, then the measured inputs it was derived from."""
    lines = [
        "| tx/s | cards | terminals | tx in window | Redis memory | Redis CPU | scorer cores | trainer tx held"
        " | trainer memory |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows(document, rates, kafka_us):
        lines.append(
            f"| {row['rate']:,.0f} | {_count(row['cards'])} | {_count(row['terminals'])} | {_count(row['window_tx'])}"
            f" | {_gb(row['redis_bytes'])} | {row['redis_cores']:.2f} cores | {row['scorer_cores']:.1f}"
            f" | {_count(row['trainer_tx'])} | {_gb(row['trainer_bytes'])} |"
        )
    figures, windows, totals, config = document["figures"], document["windows"], document["totals"], document["config"]
    per_card = totals["transactions"] / (config["days"] * config["customers"])
    lines += [
        "",
        f"Inputs (measured by `{document['command']}`): {figures['bytes_per_tx_in_window']:,.1f} bytes per transaction"
        f" in the {windows['longest_days']}-day window; Redis {figures['redis_cpu_us_per_tx']:.1f} µs and scorer"
        f" {figures['scorer_cpu_us_per_tx']:.1f} µs of CPU per transaction (batch code), a worker through Kafka"
        f" {_scorer_us(figures, kafka_us):.1f} µs; {per_card:.2f} payments per card and day,"
        f" {config['terminals'] / config['customers']:g} terminals per card; trainer"
        f" {_bytes(figures.get('trainer_marginal_bytes_per_tx'))} per transaction held over"
        f" {windows['trainer_horizon_days']} days.",
    ]
    return "\n".join(lines)


def _bytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} bytes"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of a sizing run's JSON file."""
    parser = argparse.ArgumentParser(prog="python -m bench.sizing_table", description=__doc__.split("\n")[0])
    parser.add_argument("json", type=Path, help="a `fraudstream bench sizing --json` file")
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[100, 1_000, 10_000], help="tx/s (default 100 1000 10000)"
    )
    parser.add_argument(
        "--kafka-us-per-tx",
        type=float,
        default=_RAW_PASSTHROUGH_US,
        help=f"Kafka client CPU per transaction in µs (default {_RAW_PASSTHROUGH_US:.1f}: BENCHMARKS.md's passthrough)",
    )
    args = parser.parse_args(argv)
    print(table(json.loads(args.json.read_text(encoding="utf-8")), args.rates, args.kafka_us_per_tx))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
