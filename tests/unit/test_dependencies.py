"""Every third-party module the shipped packages import comes from a declared runtime dependency, and
the test-only ones (testcontainers) are not imported by them."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SHIPPED = ("fraudcore", "fraudstream", "schemas", "producer", "scorer", "trainer", "backtest", "bench", "chaos")
PART_OF = {"pydantic_core": "pydantic"}
"""Modules that come with a declared dependency, pinned by it (pydantic pins its own core)."""


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=~!; \[]", requirement)[0].lower().replace("_", "-") for requirement in requirements}


def _imported() -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere in the shipped packages, with the files."""
    found: dict[str, set[str]] = {}
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in SHIPPED and top != "__future__":
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_module_is_a_declared_runtime_dependency() -> None:
    runtime = _names(PROJECT["dependencies"])
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, files in _imported().items():
        providers = _names(distributions.get(module, []))
        if module in PART_OF:
            providers = {PART_OF[module]}
        if not providers & runtime:
            undeclared[module] = sorted(files)
    assert not undeclared, f"imported by the shipped packages but not declared in [project] dependencies: {undeclared}"


def test_test_only_dependencies_stay_out_of_the_runtime() -> None:
    runtime = _names(PROJECT["dependencies"])
    assert "testcontainers" not in runtime
    assert "testcontainers" not in _imported()
    assert "testcontainers" in _names(PROJECT["optional-dependencies"]["dev"])
