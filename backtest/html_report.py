"""The self-contained HTML report: tables, the plots as embedded PNGs, and the run's details.

Nothing is fetched: styles are inline, images are ``data:`` URIs. A small inline script records, once
the page has loaded, how many images decoded (``naturalWidth > 0``) in the ``data-*`` attributes of
``#render-check``, so a headless browser's dump of the DOM shows that the plots rendered.
Run-dependent values (when, how long, which store) appear here and never in the JSON file.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Final

from backtest.evaluation import ModelResult
from backtest.kafka_source import PartitionSpan
from backtest.plots import Plot
from backtest.results import BacktestNumbers
from backtest.timerange import iso
from fraudcore.evaluation import ThresholdReport

__all__ = ["RunInfo", "render_html"]

_EPOCH: Final = date(1970, 1, 1)

_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
figure { margin: 1em 0; } figcaption { font-weight: 600; margin-bottom: 0.3em; }
img { max-width: 100%; border: 1px solid #eee; }
.muted { color: #666; font-size: 0.9em; }
"""

_RENDER_CHECK: Final = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (image) { return image.complete && image.naturalWidth > 0; });
  var check = document.getElementById("render-check");
  check.setAttribute("data-images", String(images.length));
  check.setAttribute("data-decoded", String(decoded.length));
  check.textContent = decoded.length + " of " + images.length + " plots rendered";
});
"""


@dataclass(frozen=True)
class RunInfo:
    """What this run did, beyond the numbers."""

    generated_at: datetime
    store: str
    seconds: dict[str, float]
    """Wall time per phase (read, replay, score, evaluate, ...)."""
    transactions_replayed: int
    spans: Sequence[PartitionSpan]
    verdicts: tuple[str, int] | None = None
    """The topic verdicts were written to and how many."""
    json_name: str = "backtest.json"

    @property
    def replay_rate(self) -> float:
        """Transactions replayed per second of reading, feature replay and scoring."""
        busy = sum(self.seconds.get(phase, 0.0) for phase in ("read", "replay", "score"))
        return self.transactions_replayed / busy if busy > 0 else math.nan


def _ratio(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _count(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.1f}"


def _money(cents: float | None) -> str:
    return "n/a" if cents is None else f"{cents / 100:,.2f}"


def _row(name: str, cells: Sequence[str], *, header: bool = False) -> str:
    tag = "th" if header else "td"
    return f"<tr><th>{escape(name)}</th>" + "".join(f"<{tag}>{escape(cell)}</{tag}>" for cell in cells) + "</tr>"


def _threshold_rows(name: str, reports: Sequence[ThresholdReport], volumes: Sequence[ThresholdReport]) -> list[str]:
    threshold = reports[0].threshold if reports else math.nan
    return [
        _row(f"{name} ≥ {threshold:g}: precision", [_ratio(r.precision) for r in reports]),
        _row(f"{name}: recall", [_ratio(r.recall) for r in reports]),
        _row(f"{name}: alerts per day (all in range)", [_count(v.alerts_per_day_mean) for v in volumes]),
        _row(f"{name}: alerts per day (evaluated)", [_count(r.alerts_per_day_mean) for r in reports]),
        _row(f"{name}: fraud amount caught", [_money(r.fraud_amount_caught) for r in reports]),
        _row(f"{name}: fraud amount missed", [_money(r.fraud_amount_missed) for r in reports]),
    ]


def _models_table(results: Sequence[ModelResult]) -> str:
    evaluations = [result.evaluation for result in results]
    rows = [
        _row("model", [result.model.label for result in results], header=True),
        _row("version", [result.model.loaded.version for result in results]),
        _row("artifact digest", [result.model.loaded.artifact_digest[:12] for result in results]),
        _row("AUC ROC", [_ratio(e.auc_roc) for e in evaluations]),
        _row("Average Precision", [_ratio(e.average_precision) for e in evaluations]),
        _row(f"Card-Precision@{evaluations[0].card_precision.k}", [_ratio(e.card_precision.mean) for e in evaluations]),
        *_threshold_rows("review", [e.threshold for e in evaluations], [r.alert_volume["review"] for r in results]),
        *_threshold_rows("decline", [r.decline for r in results], [r.alert_volume["decline"] for r in results]),
    ]
    scenarios = sorted({s for e in evaluations for s in (e.recall_by_scenario or {})})
    for scenario in scenarios:
        rows.append(
            _row(
                f"recall of fraud scenario {scenario} (review)",
                [_ratio((e.recall_by_scenario or {}).get(scenario)) for e in evaluations],
            )
        )
    return "<table>" + "".join(rows) + "</table>"


def _overview(numbers: BacktestNumbers) -> str:
    window, rows, stats = numbers.time_range, numbers.rows, numbers.stats
    data = rows.data
    invalid = {kind: sum(counter.values()) for kind, counter in stats.invalid.items()}
    reasons = "; ".join(
        f"{kind}: " + ", ".join(f"{reason} {count:,}" for reason, count in sorted(counter.items()))
        for kind, counter in stats.invalid.items()
        if counter
    )
    lines = [
        ("range (UTC)", f"{iso(window.start_ms)} to {iso(window.end_ms)} (end excluded)"),
        ("features replayed from", iso(window.replay_from_ms(numbers.spec))),
        ("transactions replayed", f"{len(data.day):,}"),
        ("transactions in range", f"{int(rows.in_range.sum()):,}"),
        ("labelled in range", f"{int((rows.in_range & data.labelled).sum()):,}"),
        (
            "cards already known compromised",
            f"{int(rows.known_compromised.sum()):,} rows "
            + ("kept" if numbers.keep_known_compromised else "left out (as in the trainer's test windows)"),
        ),
        ("evaluated", f"{int(rows.evaluated.sum()):,} ({int(data.is_fraud[rows.evaluated].sum()):,} frauds)"),
        ("invalid events skipped", f"{invalid['transactions']:,} transactions, {invalid['labels']:,} labels"),
        (
            "duplicates dropped",
            f"{stats.duplicates['transactions']:,} transactions, {stats.duplicates['labels']:,} labels",
        ),
        ("thresholds", f"review {numbers.review:g}, decline {numbers.decline:g}"),
    ]
    if reasons:
        lines.append(("invalid by reason", reasons))
    return "<table>" + "".join(_row(name, [value]) for name, value in lines) + "</table>"


def _scenario_note(results: Sequence[ModelResult]) -> str:
    if results and results[0].evaluation.recall_by_scenario is None:
        return '<p class="muted">Recall per fraud scenario: unknown (the transactions carry no scenario).</p>'
    return ""


def _run_details(info: RunInfo) -> str:
    timings = ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in info.seconds.items())
    spans = ", ".join(f"{s.topic}[{s.partition}] {s.start}-{s.end}" for s in info.spans)
    lines = [
        ("generated at (UTC)", info.generated_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("feature store", info.store),
        ("replay rate", f"{info.replay_rate:,.0f} transactions/s (read, features and scoring)"),
        ("wall time", timings),
        ("offsets read", spans or "none"),
        ("numbers", info.json_name),
    ]
    if info.verdicts is not None:
        lines.append(("verdicts written", f"{info.verdicts[1]:,} to {info.verdicts[0]}"))
    return "<table>" + "".join(_row(name, [value]) for name, value in lines) + "</table>"


def _figure(plot: Plot) -> str:
    identifier, title, png = plot
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="plot-{escape(identifier)}"><figcaption>{escape(title)}</figcaption>'
        f'<img alt="{escape(title)}" src="data:image/png;base64,{data}"></figure>'
    )


def render_html(numbers: BacktestNumbers, results: Sequence[ModelResult], plots: Sequence[Plot], info: RunInfo) -> str:
    """The whole report as one HTML document."""
    window = numbers.time_range
    last_day = _EPOCH + timedelta(days=window.last_day)
    first_day = _EPOCH + timedelta(days=window.first_day)
    title = f"fraudstream backtest {first_day:%Y-%m-%d} to {last_day:%Y-%m-%d}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{escape(title)}</h1>",
            '<p id="render-check" class="muted">plots not checked (scripts disabled)</p>',
            "<h2>Data</h2>",
            _overview(numbers),
            "<h2>Models side by side</h2>",
            _models_table(results),
            _scenario_note(results),
            "<h2>Plots</h2>",
            *(_figure(plot) for plot in plots),
            "<h2>Run</h2>",
            _run_details(info),
            f"<script>{_RENDER_CHECK}</script>",
            "</body></html>",
            "",
        ]
    )
