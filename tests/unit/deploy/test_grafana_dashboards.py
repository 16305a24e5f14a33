"""grafana/dashboards: every query goes through the chosen data source and the job and instance variables,
counters are plotted as rates or increases, the PSI alarm threshold is drawn, promotions and model swaps
are annotations, and every query parses (promtool)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scorer.drift_watch import PSI_ALARM
from tests.unit.deploy.dashboards import (
    SELECTOR,
    Query,
    annotation_entries,
    annotation_queries,
    cumulative_series,
    dashboards,
    gauge_series,
    misused_series,
    panel_queries,
)

Mapping = dict[str, Any]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCOPE = ('job=~"$job"', 'instance=~"$instance"')
BOARDS = dashboards()


def _all_queries() -> list[Query]:
    return [*panel_queries(), *annotation_queries()]


def _variables(board: Mapping) -> dict[str, Mapping]:
    return {variable["name"]: variable for variable in board["templating"]["list"]}


def test_the_dashboards_and_their_queries_are_found() -> None:
    assert len(BOARDS) == 5
    assert len(list(panel_queries())) >= 40
    assert len(list(annotation_queries())) == 2 * len(BOARDS)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_the_data_source_is_a_variable_used_by_every_panel_and_annotation(name: str) -> None:
    board = BOARDS[name]
    variable = _variables(board)["datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    assert "prometheus" not in {v.get("datasource", {}).get("uid") for v in board["templating"]["list"]}
    for panel in board["panels"]:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for entry in annotation_entries(board):
        assert entry["datasource"] == DATASOURCE, entry["name"]
    assert '"uid": "prometheus"' not in json.dumps(board), "a hard-coded data source uid is left"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_job_and_instance_are_multi_value_variables_with_all(name: str) -> None:
    variables = _variables(BOARDS[name])
    assert list(variables) == ["datasource", "job", "instance"]
    for label in ("job", "instance"):
        variable = variables[label]
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable["multi"] is True, label
        assert variable["includeAll"] is True, label
        assert variable["allValue"] == ".*", "All must match instances that appear after the dashboard loaded"
        assert variable["query"]["query"] == variable["definition"]
        assert re.fullmatch(rf"label_values\(.*fraudstream_.*, {label}\)", variable["definition"]), label
    assert 'job=~"$job"' in variables["instance"]["definition"], "the instances offered are those of the jobs chosen"


def test_every_metric_selector_is_scoped_to_the_chosen_jobs_and_instances() -> None:
    for query in _all_queries():
        selectors = list(SELECTOR.finditer(query.expr))
        assert selectors, query
        for selector in selectors:
            matchers = selector.group("matchers") or ""
            assert all(scope in matchers for scope in SCOPE), f"{query.panel}: {selector.group(0)}"


def test_counters_are_plotted_as_rates_or_increases_and_gauges_never() -> None:
    cumulative, gauges = cumulative_series(), gauge_series()
    assert len(cumulative) > 20
    assert len(gauges) > 10
    for query in _all_queries():
        assert misused_series(query.expr, cumulative, gauges) == [], query.panel
    counted = [s for q in _all_queries() for s in SELECTOR.finditer(q.expr) if s.group("name") in cumulative]
    assert len(counted) > 30


def test_raw_counters_rates_of_gauges_and_unknown_metrics_are_caught() -> None:
    cumulative, gauges = cumulative_series(), gauge_series()
    scope = '{job=~"$job", instance=~"$instance"}'
    assert misused_series(f"sum(rate(fraudstream_scorer_transactions_total{scope}[5m]))", cumulative, gauges) == []
    assert misused_series(f"sum(fraudstream_scorer_transactions_total{scope})", cumulative, gauges)
    assert misused_series(f"sum(rate(fraudstream_scorer_transactions_total{scope}))", cumulative, gauges)
    assert misused_series(f"rate(fraudstream_scorer_consumer_lag{scope}[5m])", cumulative, gauges)
    assert misused_series("max(fraudstream_scorer_made_up)", cumulative, gauges)
    (bare,) = SELECTOR.finditer("max(fraudstream_scorer_ready)")
    assert bare.group("matchers") is None


def test_the_psi_alarm_threshold_is_drawn_on_every_psi_panel() -> None:
    panels = [
        panel
        for board in BOARDS.values()
        for panel in board["panels"]
        if any("fraudstream_scorer_feature_psi" in target["expr"] for target in panel["targets"])
    ]
    assert panels
    for panel in panels:
        defaults = panel["fieldConfig"]["defaults"]
        steps = [step["value"] for step in defaults["thresholds"]["steps"]]
        assert steps == [None, PSI_ALARM], f"{panel['title']}: the line must be at the scorer's alarm level"
        assert defaults["custom"]["thresholdsStyle"]["mode"] in ("line", "line+area", "dashed", "dashed+area")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_promotions_and_model_swaps_are_annotations(name: str) -> None:
    entries = {entry["name"]: entry for entry in annotation_entries(BOARDS[name])}
    promotions = [e for e in entries.values() if 'result="promoted"' in e["expr"]]
    swaps = [e for e in entries.values() if "fraudstream_scorer_model_info" in e["expr"]]
    assert len(promotions) == 1
    assert "fraudstream_trainer_retrains_total" in promotions[0]["expr"]
    assert "fraudstream_trainer_champion_info" in promotions[0]["expr"], "a promotion says which version"
    assert len(swaps) == 1
    assert " unless " in swaps[0]["expr"]
    assert " offset " in swaps[0]["expr"]
    for entry in entries.values():
        assert entry["enable"] is True, entry["name"]
        assert entry["titleFormat"], entry["name"]
        assert entry["textFormat"], entry["name"]
    assert "{{version}}" in swaps[0]["textFormat"], "a swap says which version now serves"
    assert "{{version}}" in promotions[0]["textFormat"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (scripts/install-system-deps.sh installs the prometheus package)"
    rules = [{"record": f"dashboard_query_{index}", "expr": q.promql()} for index, q in enumerate(_all_queries())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": [{"record": "q", "expr": "sum(rate(x[5m])"}]}]})
    )
    refused = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0, "promtool accepted a broken query: this check would catch nothing"
