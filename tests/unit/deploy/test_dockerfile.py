"""Dockerfile and .dockerignore: a pinned base, the locked dependencies installed as the Makefile does,
a non-root user, and the ``fraudstream`` console script as the entrypoint."""

from __future__ import annotations

import json
import re

from tests.unit.deploy.repo_files import (
    DOCKERIGNORE,
    REPO,
    Instruction,
    dockerfile_instructions,
    dockerfile_stages,
    global_args,
    is_pinned,
    makefile_variable,
    pyproject,
    substitute,
)


def _final_stage() -> list[Instruction]:
    stages = dockerfile_stages(dockerfile_instructions())
    assert stages, "the Dockerfile has no FROM"
    return stages[-1]


def _arguments(keyword: str, stage: list[Instruction] | None = None) -> list[str]:
    instructions = stage if stage is not None else dockerfile_instructions()
    return [instruction.arguments for instruction in instructions if instruction.keyword == keyword]


def _stage_names() -> set[str]:
    names = set()
    for arguments in _arguments("FROM"):
        parts = arguments.split()
        if len(parts) == 3 and parts[1].upper() == "AS":
            names.add(parts[2])
    return names


def _from_image(arguments: str) -> str:
    """The image of ``FROM [--platform=...] IMAGE [AS NAME]``."""
    return next(part for part in arguments.split() if not part.startswith("--"))


def test_every_base_image_is_a_pinned_python_3_11_slim() -> None:
    variables = global_args(dockerfile_instructions())
    for arguments in _arguments("FROM"):
        image = substitute(_from_image(arguments), variables)
        if image in _stage_names():
            continue
        assert is_pinned(image), f"base image {image!r} is not pinned"
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), f"{image}: expected python:3.11.<patch>-slim"


def test_the_python_of_the_image_is_one_the_project_supports() -> None:
    variables = global_args(dockerfile_instructions())
    image = substitute(_from_image(_arguments("FROM", _final_stage())[0]), variables)
    minor = re.search(r"python:(3\.\d+)", image)
    assert minor, image
    assert str(pyproject()["project"]["requires-python"]).startswith(f">={minor.group(1)}")
    assert pyproject()["tool"]["mypy"]["python_version"] == minor.group(1), "mypy checks another Python"


def test_the_entrypoint_is_the_fraudstream_console_script() -> None:
    entrypoints = _arguments("ENTRYPOINT", _final_stage())
    assert entrypoints, "no ENTRYPOINT in the final stage"
    entrypoint = json.loads(entrypoints[-1])  # exec form: signals reach the app (Ctrl-C flushes the producer)
    scripts = pyproject()["project"]["scripts"]
    assert entrypoint == ["fraudstream"]
    assert scripts.get("fraudstream") == "fraudstream.cli:main"


def test_the_container_runs_as_a_non_root_user() -> None:
    users = _arguments("USER", _final_stage())
    assert users, "the final stage runs as root (no USER)"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]}"


def test_the_dependencies_are_the_locked_ones_installed_with_the_makefiles_uv() -> None:
    uv_version = [
        arguments.partition("=")[2].strip('"') for arguments in _arguments("ARG") if arguments.startswith("UV_VERSION=")
    ]
    assert uv_version == [makefile_variable("UV_VERSION")], "the image's uv differs from the Makefile's"
    runs = _arguments("RUN")
    assert any("uv==${UV_VERSION}" in run or f"uv=={uv_version[0]}" in run for run in runs)
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs, "the dependencies are not installed with `uv sync`"
    for sync in syncs:
        assert "--locked" in sync or "--frozen" in sync, f"not from uv.lock: {sync}"
        assert "--extra" not in sync, "the dev tools do not belong in the image"
        assert "--all-extras" not in sync, "the dev tools do not belong in the image"
    copied = " ".join(_arguments("COPY"))
    assert "uv.lock" in copied
    assert "pyproject.toml" in copied


def test_every_package_of_the_wheel_is_copied_into_the_build() -> None:
    packages = pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {arguments.split()[0].rstrip("/") for arguments in _arguments("COPY") if not arguments.startswith("--")}
    missing = set(packages) - copied
    assert not missing, f"the Dockerfile does not copy {sorted(missing)}"
    readme = pyproject()["project"]["readme"]
    assert any(readme in arguments.split() for arguments in _arguments("COPY")), f"{readme} is needed to build"


def test_the_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for ignored in (".venv", ".git", "mlruns", ".mypy_cache", ".pytest_cache", ".ruff_cache"):
        assert ignored in patterns, f".dockerignore does not exclude {ignored}"
    needed = {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        *pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"],
    }
    assert not needed & patterns, f".dockerignore excludes what the build needs: {sorted(needed & patterns)}"
    for name in needed:
        assert (REPO / name).exists(), f"{name} is missing from the repository"
