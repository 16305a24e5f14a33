"""Reading the provisioned Grafana dashboards: their panels' and annotations' queries, as Grafana sends them
to Prometheus once its variables are substituted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.unit.deploy.repo_files import GRAFANA_DIR
from tests.unit.test_metrics_catalogue import _catalogue

DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"

GRAFANA_VARIABLES = {
    "$__interval": "15s",  # the step of a range query
    "$__rate_interval": "16s",  # Grafana's: the step and a scrape (1 s in the integration tests), at least 4 scrapes
    "$__range": "1h",
    "$job": ".*",  # the dashboards' "All" value
    "$instance": ".*",
}
"""What Grafana puts in place of its variables (longest names first when substituting)."""

Mapping = dict[str, Any]

SELECTOR = re.compile(r"(?P<name>fraudstream_[a-z0-9_]+)\s*(?P<matchers>\{[^}]*\})?\s*(?P<range>\[[^\]]+\])?")
"""A fraudstream metric's selector in PromQL: its name, label matchers and range."""
OVER_TIME = re.compile(r"\b(?:rate|irate|increase)\(\s*$")
"""The text before a selector, when the selector is the argument of rate(), irate() or increase()."""


def misused_series(expr: str, cumulative: set[str], gauges: set[str]) -> list[str]:
    """What ``expr`` gets wrong: a counter (of ``cumulative``) not under rate() or increase() with a range,
    a gauge under them, or a name that is neither."""
    problems = []
    for selector in SELECTOR.finditer(expr):
        name, over_time = selector.group("name"), OVER_TIME.search(expr[: selector.start()])
        if name in cumulative and not (over_time and selector.group("range")):
            problems.append(f"raw cumulative {name}")
        elif name in gauges and over_time:
            problems.append(f"rate or increase of the gauge {name}")
        elif name not in cumulative | gauges:
            problems.append(f"{name} is not in METRICS.md")
    return problems


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a dashboard: a panel's target, or an annotation."""

    dashboard: str
    panel: str
    expr: str
    annotation: bool = False

    def promql(self) -> str:
        """The query as Prometheus receives it, Grafana's variables substituted."""
        text = self.expr
        for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
            text = text.replace(name, GRAFANA_VARIABLES[name])
        return text


def dashboards() -> dict[str, Mapping]:
    """Every provisioned dashboard, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def annotation_entries(board: Mapping) -> list[Mapping]:
    """The dashboard's own annotation queries (not Grafana's built-in one)."""
    return [entry for entry in board.get("annotations", {}).get("list", []) if not entry.get("builtIn")]


def panel_queries() -> Iterator[Query]:
    """Every target of every panel of every provisioned dashboard."""
    for board in dashboards().values():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield Query(board["title"], panel["title"], target["expr"])


def annotation_queries() -> Iterator[Query]:
    """Every annotation query of every provisioned dashboard."""
    for board in dashboards().values():
        for entry in annotation_entries(board):
            yield Query(board["title"], entry["name"], entry["expr"], annotation=True)


def cumulative_series() -> set[str]:
    """Series of METRICS.md that only grow: counters, and the buckets, sums and counts of histograms."""
    names: set[str] = set()
    for name, (kind, _) in _catalogue().items():
        if kind == "counter":
            names.add(name)
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def gauge_series() -> set[str]:
    return {name for name, (kind, _) in _catalogue().items() if kind == "gauge"}
