""".github/workflows/ci.yml: pinned actions, Python 3.11, timeouts, the lint tools and the whole test suite."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest

from tests.unit.deploy.repo_files import CI_FILE, load_yaml, makefile_targets

Mapping = dict[str, Any]
# `make TARGET` as a command (at the start of a line or after && ; ||), not `apt-get install make`.
MAKE_CALL = re.compile(r"(?:^|&&|\|\||;)\s*make ([a-z][a-z-]*)", re.MULTILINE)


def _workflow() -> Mapping:
    return load_yaml(CI_FILE)


def _jobs() -> dict[str, Mapping]:
    jobs = _workflow()["jobs"]
    assert jobs
    return dict(jobs)


def _steps() -> list[Mapping]:
    return [step for job in _jobs().values() for step in job["steps"]]


def _runs() -> str:
    return "\n".join(str(step["run"]) for step in _steps() if "run" in step)


def test_the_workflow_runs_on_pushes_and_pull_requests() -> None:
    workflow = cast(dict[object, Any], _workflow())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(triggers, dict | list)
    assert {"push", "pull_request"} <= set(triggers)


@pytest.mark.parametrize("uses", sorted({str(step["uses"]) for step in _steps() if "uses" in step}))
def test_every_action_is_pinned_to_a_version(uses: str) -> None:
    assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})", uses), (
        f"{uses}: pin a version tag (@vN) or a commit, not a branch"
    )


@pytest.mark.parametrize("job", sorted(_jobs()))
def test_every_job_has_a_timeout(job: str) -> None:
    assert 0 < int(_jobs()[job]["timeout-minutes"]) <= 120


def test_the_jobs_use_python_3_11() -> None:
    for name, job in _jobs().items():
        versions = [
            str(step.get("with", {}).get("python-version"))
            for step in job["steps"]
            if str(step.get("uses", "")).startswith("actions/setup-python@")
        ]
        container = job.get("container")
        image = str(container.get("image") if isinstance(container, dict) else container or "")
        assert versions == ["3.11"] or re.match(r"python:3\.11\.\d+", image), f"{name}: not on Python 3.11"


def test_the_lint_tools_run() -> None:
    runs = _runs()
    assert re.search(r"\bruff check\b", runs), "ruff check does not run"
    assert re.search(r"\bruff format --check\b", runs), "ruff format --check does not run"
    assert re.search(r"\bmypy\b", runs), "mypy does not run"


def test_the_whole_test_suite_runs_against_a_real_broker() -> None:
    assert re.search(r"^\s*make test\s*$", _runs(), re.MULTILINE), "`make test` (unit + integration) does not run"


def test_every_make_target_called_exists() -> None:
    called = set(MAKE_CALL.findall(_runs()))
    assert called, "the workflow calls no make target"
    unknown = called - makefile_targets()
    assert not unknown, f"the Makefile has no target {sorted(unknown)}"


def test_the_checkout_comes_before_anything_that_needs_the_repository() -> None:
    for name, job in _jobs().items():
        steps = job["steps"]
        checkout = [i for i, step in enumerate(steps) if str(step.get("uses", "")).startswith("actions/checkout@")]
        assert checkout, f"{name} does not check the repository out"
        needs_repo = [
            i
            for i, step in enumerate(steps)
            if MAKE_CALL.search(str(step.get("run", ""))) or ".venv/" in str(step.get("run", ""))
        ]
        assert all(i > checkout[0] for i in needs_repo), f"{name} runs make before the checkout"
