"""METRICS.md lists exactly the metrics the code registers, and the dashboards query only those."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase

from producer.metrics import ProducerMetrics
from scorer.metrics import ScorerMetrics
from trainer.metrics import TrainerMetrics

ROOT = Path(__file__).resolve().parents[2]
Entry = tuple[str, frozenset[str]]  # (type, label names)


def _catalogue() -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for line in (ROOT / "METRICS.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`fraudstream_"):
            entries[cells[0].strip("`")] = (cells[1], _labels(cells[2]))
    return entries


def _labels(cell: str) -> frozenset[str]:
    """Label names of a cell like ``\\`kind\\` (\\`a\\`, \\`b\\`), \\`outcome\\```: the names outside parentheses."""
    outside = re.sub(r"\([^)]*\)", "", cell)
    return frozenset(re.findall(r"`([a-z_]+)`", outside))


def _registered() -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for owner in (ScorerMetrics(), TrainerMetrics(), ProducerMetrics()):
        for metric in vars(owner).values():
            if isinstance(metric, MetricWrapperBase):
                # prometheus_client keeps a metric's type, name and label names in these attributes
                kind = str(metric._type)
                name = metric._name + ("_total" if kind == "counter" else "")
                entries[name] = (kind, frozenset(metric._labelnames))
    return entries


def test_the_catalogue_lists_every_registered_metric_with_its_type_and_labels() -> None:
    catalogue, registered = _catalogue(), _registered()
    assert len(registered) > 25
    assert catalogue == registered


def test_names_follow_the_conventions() -> None:
    for name, (kind, labels) in _registered().items():
        assert name.startswith(("fraudstream_scorer_", "fraudstream_trainer_", "fraudstream_producer_")), name
        assert name.endswith("_total") == (kind == "counter"), name
        assert not labels & {"card", "customer", "customer_id", "terminal", "terminal_id", "transaction_id"}, name


def test_every_dashboard_queries_only_catalogued_metrics() -> None:
    catalogue = _catalogue()
    used: set[str] = set()
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                used |= set(re.findall(r"fraudstream_[a-z_0-9]+", target["expr"]))
    series = {re.sub(r"_(bucket|sum|count)$", "", name) if name not in catalogue else name for name in used}
    assert series - set(catalogue) == set()
    assert len(series) >= 25


def test_each_process_serves_the_standard_process_series_and_no_created_series() -> None:
    for owner in (ScorerMetrics(), TrainerMetrics(), ProducerMetrics()):
        exposition = generate_latest(owner.registry).decode()
        for standard in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"):
            assert f"\n{standard}" in exposition, standard
        assert "_created" not in exposition
