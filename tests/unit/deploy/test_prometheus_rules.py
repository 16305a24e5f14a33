"""deploy/prometheus/rules.yml: promtool accepts the rules and passes their tests, each alert is tested firing
and quiet, carries a severity, a summary, a description and a runbook line documented in docs/alerts.md,
queries catalogued metrics the right way, and is loaded by the compose Prometheus and the Kubernetes
PrometheusRule."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import PurePosixPath
from typing import Any

import pytest

from tests.unit.deploy.dashboards import cumulative_series, gauge_series, misused_series
from tests.unit.deploy.repo_files import (
    K8S_DIR,
    PROMETHEUS_FILE,
    REPO,
    command_argv,
    load_yaml,
    load_yaml_documents,
    option_value,
    services,
    volume_mounts,
)

Mapping = dict[str, Any]
RULES_FILE = PROMETHEUS_FILE.parent / "rules.yml"
RULES_TEST_FILE = PROMETHEUS_FILE.parent / "rules.test.yml"
ALERTS_DOC = REPO / "docs" / "alerts.md"
RULES_K8S_DIR = K8S_DIR.parent / "k8s-prometheus-rules"
SEVERITIES = {"critical", "warning"}


def _alerts() -> dict[str, Mapping]:
    rules = [rule for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]]
    alerts = {str(rule["alert"]): rule for rule in rules if "alert" in rule}
    assert len(alerts) == len(rules), "two alerts share a name, or a rule is no alert"
    return alerts


def _promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (scripts/install-system-deps.sh installs the prometheus package)"
    return subprocess.run([promtool, *arguments], capture_output=True, text=True, timeout=120, cwd=REPO)


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def test_promtool_accepts_the_rules() -> None:
    checked = _promtool("check", "rules", str(RULES_FILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout


def test_the_rules_pass_their_promtool_tests() -> None:
    tested = _promtool("test", "rules", str(RULES_TEST_FILE))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    tests = load_yaml(RULES_TEST_FILE)
    assert tests["rule_files"] == [RULES_FILE.name]
    for test in tests["tests"]:
        for expectation in test.get("alert_rule_test", []):
            name = str(expectation["alertname"])
            (firing if expectation.get("exp_alerts") else quiet).add(name)
    assert firing == set(_alerts()), "alerts never tested firing: " + ", ".join(set(_alerts()) - firing)
    assert quiet == set(_alerts()), "alerts never tested quiet: " + ", ".join(set(_alerts()) - quiet)


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook(name: str) -> None:
    rule = _alerts()[name]
    assert re.fullmatch(r"Fraudstream[A-Z][A-Za-z]+", name), "alert names are CamelCase and start with Fraudstream"
    assert rule["labels"]["severity"] in SEVERITIES
    assert _seconds(str(rule.get("for", "0s"))) <= 15 * 60, "an alert that waits longer comes too late"
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook"}
    assert all(str(text).strip() for text in annotations.values())
    assert f"docs/alerts.md#{name.lower()}" in annotations["runbook"], "the runbook line points at docs/alerts.md"


def test_every_alert_is_documented_and_every_documented_alert_exists() -> None:
    documented = re.findall(r"^## (Fraudstream\w+)$", ALERTS_DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(documented) == sorted(_alerts())


def test_the_rules_query_catalogued_metrics_the_right_way() -> None:
    cumulative, gauges = cumulative_series(), gauge_series()
    for name, rule in _alerts().items():
        assert "fraudstream_" in rule["expr"], name
        assert misused_series(rule["expr"], cumulative, gauges) == [], name


def test_the_compose_prometheus_loads_the_rules_it_mounts() -> None:
    prometheus = services()["prometheus"]
    config = option_value(command_argv(prometheus), "--config.file") or "/etc/prometheus/prometheus.yml"
    mounts = volume_mounts(prometheus)
    rule_files = load_yaml(PROMETHEUS_FILE)["rule_files"]
    assert rule_files, "prometheus.yml loads no rules"
    for rule_file in rule_files:
        in_container = str(PurePosixPath(config).parent / rule_file)
        assert in_container in mounts, f"{in_container} is not mounted"
        assert (REPO / mounts[in_container]).resolve() == RULES_FILE
    checked = _promtool("check", "config", str(PROMETHEUS_FILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_kubernetes_prometheus_rule_holds_the_same_rules() -> None:
    kustomization = load_yaml(RULES_K8S_DIR / "kustomization.yaml")
    assert kustomization["namespace"] == load_yaml(K8S_DIR / "kustomization.yaml")["namespace"]
    on_disk = {path.name for path in RULES_K8S_DIR.glob("*.y*ml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    (rule,) = [doc for name in sorted(on_disk) for doc in load_yaml_documents(RULES_K8S_DIR / name)]
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == load_yaml(RULES_FILE), (
        "deploy/k8s-prometheus-rules/prometheus-rule.yaml differs from deploy/prometheus/rules.yml: copy its groups"
    )
