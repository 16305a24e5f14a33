"""Model quality under the prequential protocol on handbook-style simulated data.

Usage: ``python -m trainer.quality [--customers N] [--days N] [--models KIND[:NAME=VALUE,...] ...]`` (``--help``).

The trainer's own path: the simulator's events (transactions, labels one label delay later) go into a
:class:`~trainer.history.History`, pruned to the horizon the trainer keeps, then
:func:`~trainer.training.build_dataset` (the scorer's feature definition) and
:func:`~trainer.training.train_and_evaluate` for each model, on the same folds. Fold 0's test window
ends the day before ``clock - label delay``; each older fold steps back by the test window. Test rows
of cards already known to be compromised (a fraud since the fold's training window began, labelled
before the row's day) are left out, as in the trainer and the handbook.

Per model: mean ± std over folds of AUC-ROC, Average Precision and Card-Precision@100, the alerts
per day at the review threshold, and the wall time per fold (fit, scoring and evaluation). Also the
baseline (the amount as the score) and the ceiling of CP@100 (a perfect score on the same rows).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from fraudcore.evaluation import Evaluation, card_precision_at_k
from fraudcore.features.definition import DAY_MS, FeatureSpec
from fraudcore.model_kind import ModelKind
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from trainer.fitting import DEFAULT_PARAMS, new_estimator
from trainer.history import History
from trainer.training import Dataset, FoldResult, TrainingConfig, build_dataset, train_and_evaluate

__all__ = ["ModelSpec", "Summary", "main", "simulated_dataset", "table"]

_METRICS = ("auc_roc", "average_precision", "card_precision_at_100")
_HEADERS = ("AUC-ROC", "AP", "CP@100")


@dataclass(frozen=True)
class ModelSpec:
    """A model kind and the hyperparameters overriding its defaults."""

    kind: ModelKind
    params: dict[str, Any]

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """``kind`` or ``kind:name=value,...`` (values: int, float, true/false, none, or a string)."""
        kind, _, rest = text.partition(":")
        try:
            spec = cls(ModelKind(kind.strip()), dict(_assignment(item) for item in rest.split(",") if item.strip()))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc
        try:
            new_estimator(spec.kind, params=spec.params)
        except TypeError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc
        return spec

    @property
    def label(self) -> str:
        """The spec as it is written on the command line."""
        params = ",".join(f"{name}={_text(value)}" for name, value in self.params.items())
        return f"{self.kind}:{params}" if params else str(self.kind)


def _assignment(item: str) -> tuple[str, Any]:
    name, equals, value = item.partition("=")
    if not equals or not name.strip():
        raise ValueError(f"expected name=value, got {item!r}")
    return name.strip(), _value(value.strip())


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def _text(value: Any) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Summary:
    """One scorer's headline metrics per fold (most recent first), and the seconds per fold."""

    name: str
    folds: list[dict[str, float]]
    seconds_per_fold: float | None = None
    alerts_per_day: float | None = None

    def mean(self, metric: str) -> float:
        """Mean over the folds where ``metric`` is defined (``nan`` if none)."""
        values = self._defined(metric)
        return float(np.mean(values)) if values else math.nan

    def std(self, metric: str) -> float:
        """Sample standard deviation over the folds where ``metric`` is defined (``nan`` below two)."""
        values = self._defined(metric)
        return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan

    def _defined(self, metric: str) -> list[float]:
        return [fold[metric] for fold in self.folds if not math.isnan(fold[metric])]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types; ``nan`` becomes ``None``."""
        return {
            "name": self.name,
            "mean": {metric: _number(self.mean(metric)) for metric in _METRICS},
            "std": {metric: _number(self.std(metric)) for metric in _METRICS},
            "folds": [{metric: _number(fold[metric]) for metric in _METRICS} for fold in self.folds],
            "alerts_per_day": _number(self.alerts_per_day),
            "seconds_per_fold": self.seconds_per_fold,
        }


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def simulated_dataset(params: SimulationParams, config: TrainingConfig) -> tuple[Dataset, int]:
    """The simulated stream through a history pruned like the trainer's, as a dataset; and how many
    transactions were simulated."""
    history = History(spec=config.spec)
    labels = LabelPolicy(delay=timedelta(days=config.spec.label_delay_days))
    history.add_events(SimulatedStream(params, labels).events())
    simulated = len(history)
    history.prune(history.clock_ms - config.horizon_days * DAY_MS)
    return build_dataset(history.snapshot(), config.spec), simulated


def _alerts(evaluations: Sequence[Evaluation]) -> float:
    """Mean over folds of the alerts per day at the review threshold."""
    values = [e.threshold.alerts_per_day_mean for e in evaluations]
    return float(np.mean([math.nan if value is None else value for value in values]))


def _evaluate_model(data: Dataset, config: TrainingConfig, model: ModelSpec) -> tuple[Summary, list[FoldResult]]:
    began = time.perf_counter()
    outcome = train_and_evaluate(data, replace(config, kind=model.kind, params=model.params), champion=None)
    seconds = (time.perf_counter() - began) / len(outcome.folds)
    challengers = [fold.challenger for fold in outcome.folds]
    summary = Summary(
        model.label,
        [e.headline() for e in challengers],
        seconds_per_fold=seconds,
        alerts_per_day=_alerts(challengers),
    )
    return summary, outcome.folds


def _baseline(folds: Sequence[FoldResult]) -> Summary:
    """The amount as the score (not a probability: no alerts at the threshold)."""
    return Summary("baseline: amount", [fold.baseline.headline() for fold in folds])


def _ceiling(data: Dataset, folds: Sequence[FoldResult]) -> Summary:
    """CP@100 of a perfect score on each fold's test rows (the rows the trainer evaluates)."""
    values: list[dict[str, float]] = []
    for result in folds:
        rows = data.testable(result.fold)
        if int(rows.sum()) != result.baseline.transactions:
            raise RuntimeError("the ceiling's test rows differ from the trainer's")
        fraud = data.is_fraud[rows]
        cards = card_precision_at_k(data.day[rows], data.customer[rows], fraud, fraud.astype(np.float64), k=100)
        values.append({"auc_roc": math.nan, "average_precision": math.nan, "card_precision_at_100": cards.mean})
    return Summary("ceiling: perfect score", values)


def _cell(summary: Summary, metric: str) -> str:
    mean, std = summary.mean(metric), summary.std(metric)
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def table(models: Sequence[Summary], references: Sequence[Summary], threshold: float) -> str:
    """The models (names as code) and the reference rows as a Markdown table."""
    header = ["model", *_HEADERS, f"alerts/day at {threshold:g}", "s/fold"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    rows = [(f"`{row.name}`", row) for row in models] + [(row.name, row) for row in references]
    for name, row in rows:
        alerts = "-" if row.alerts_per_day is None else f"{row.alerts_per_day:.1f}"
        seconds = "-" if row.seconds_per_fold is None else f"{row.seconds_per_fold:.1f}"
        lines.append("| " + " | ".join([name, *(_cell(row, m) for m in _METRICS), alerts, seconds]) + " |")
    return "\n".join(lines)


def _test_window(result: FoldResult) -> dict[str, Any]:
    """A fold's test dates and number of test rows."""
    first, last = (
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=d)
        for d in (result.fold.test_first_day, result.fold.test_last_day)
    )
    return {
        "test_first_day": first.date().isoformat(),
        "test_last_day": last.date().isoformat(),
        "test_rows": result.baseline.transactions,
    }


def _defaults(kind: ModelKind) -> str:
    return ", ".join(f"{name}={_text(value)}" for name, value in DEFAULT_PARAMS[kind].items())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.quality",
        description="Model quality under the prequential protocol on simulated data, through the trainer's code.",
        epilog="Model kinds and their defaults: "
        + "; ".join(f"{kind} ({_defaults(kind)})" for kind in ModelKind)
        + ". Example: --models boosting 'boosting:class_weight=balanced,learning_rate=0.05' forest:max_depth=none",
    )
    simulation = parser.add_argument_group("simulation (defaults: the handbook's generator)")
    simulation.add_argument("--customers", type=int, default=5_000, help="default: %(default)s")
    simulation.add_argument("--terminals", type=int, default=10_000, help="default: %(default)s")
    simulation.add_argument(
        "--days", type=int, default=183, help="simulated days from 2018-04-01 (default: %(default)s)"
    )
    simulation.add_argument("--seed", type=int, default=0, help="simulation seed (default: %(default)s)")
    windows = parser.add_argument_group("prequential windows, in days (defaults: the handbook's)")
    windows.add_argument("--train-days", type=int, default=7, help="default: %(default)s")
    windows.add_argument(
        "--delay-days", type=int, default=7, help="label delay, also the features' (default: %(default)s)"
    )
    windows.add_argument("--test-days", type=int, default=7, help="default: %(default)s")
    windows.add_argument("--folds", type=int, default=4, help="default: %(default)s")
    parser.add_argument(
        "--models",
        nargs="+",
        type=ModelSpec.parse,
        default=[ModelSpec(kind, {}) for kind in ModelKind],
        metavar="KIND[:NAME=VALUE,...]",
        help="models to compare: a kind, optionally with hyperparameters overriding its defaults (default: each kind)",
    )
    parser.add_argument("--model-seed", type=int, default=0, help="estimators' random_state (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate, train and evaluate each model, print the table (and write the JSON)."""
    args = _parser().parse_args(argv)
    params = SimulationParams(seed=args.seed, n_customers=args.customers, n_terminals=args.terminals, days=args.days)
    config = TrainingConfig(
        train_days=args.train_days,
        test_days=args.test_days,
        folds=args.folds,
        seed=args.model_seed,
        spec=FeatureSpec(label_delay_days=args.delay_days),
    )
    began = time.perf_counter()
    data, simulated = simulated_dataset(params, config)
    prepared = time.perf_counter() - began
    _progress(
        f"{simulated:,} transactions simulated, {len(data.day):,} kept; simulation and features: {prepared:.0f} s"
    )
    models: list[Summary] = []
    folds: list[FoldResult] = []
    for model in args.models:
        summary, folds = _evaluate_model(data, config, model)
        models.append(summary)
        _progress(f"{model.label}: {summary.seconds_per_fold:.1f} s/fold")
    baseline, ceiling = _baseline(folds), _ceiling(data, folds)
    windows = [_test_window(result) for result in folds]
    fraud_rate = float(data.is_fraud.mean())
    print(
        f"{simulated:,} simulated transactions ({args.customers} customers, {args.terminals} terminals, "
        f"{args.days} days, seed {args.seed}), {len(data.day):,} in the trainer's {config.horizon_days}-day horizon, "
        f"{fraud_rate:.2%} fraud; train {args.train_days} d, delay {args.delay_days} d, test {args.test_days} d; "
        "test windows (rows): "
        + ", ".join(f"{w['test_first_day']}..{w['test_last_day']} ({w['test_rows']:,})" for w in windows)
        + "\n"
    )
    print(table(models, [baseline, ceiling], config.threshold))
    if args.json is not None:
        report = {
            "argv": list(sys.argv[1:] if argv is None else argv),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "simulation": {
                "customers": args.customers,
                "terminals": args.terminals,
                "days": args.days,
                "seed": args.seed,
            },
            "transactions": {"simulated": simulated, "kept": len(data.day), "fraud_rate": fraud_rate},
            "windows": {"train_days": args.train_days, "delay_days": args.delay_days, "test_days": args.test_days},
            "folds": windows,
            "model_seed": args.model_seed,
            "models": [
                {**summary.as_dict(), "kind": str(model.kind), "params": model.params}
                for summary, model in zip(models, args.models, strict=True)
            ],
            "baseline": baseline.as_dict(),
            "ceiling": ceiling.as_dict(),
            "seconds_preparing": prepared,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
