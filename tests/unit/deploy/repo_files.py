"""Reading the deployment files of the repository (compose, Prometheus, Dockerfile, k8s, CI) for static checks.

No Docker engine or cluster is involved: each file is parsed and its parts are cross-checked with
the project itself (its settings, its command-line parser, pyproject.toml, the Makefile).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import AliasChoices

from fraudcore.settings import ENV_PREFIX, Settings
from fraudstream.cli import build_parser

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PROMETHEUS_FILE = REPO / "deploy" / "prometheus" / "prometheus.yml"
K8S_DIR = REPO / "deploy" / "k8s"
CI_FILE = REPO / ".github" / "workflows" / "ci.yml"
GRAFANA_DIR = REPO / "grafana"

Mapping = dict[str, Any]


def load_yaml(path: Path) -> Mapping:
    """The one YAML document of ``path``, which must be a mapping."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path.name}: expected a mapping at the top level"
    return cast(Mapping, loaded)


def load_yaml_documents(path: Path) -> list[Mapping]:
    """Every non-empty YAML document of ``path``, each a mapping."""
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    for document in documents:
        assert isinstance(document, dict), f"{path.name}: every document must be a mapping"
    return cast(list[Mapping], documents)


# --- the settings -------------------------------------------------------------------------------


@cache
def settings_env_names() -> frozenset[str]:
    """Every environment variable the settings read: ``FRAUD_<FIELD>``, or the field's aliases."""
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{ENV_PREFIX}{field_name.upper()}")
    return frozenset(names)


def setting_value(env: dict[str, str], field_name: str) -> str:
    """The value a container gets for a setting: its environment, else the field's default."""
    variable = f"{ENV_PREFIX}{field_name.upper()}"
    if variable in env:
        return env[variable]
    default = Settings.model_fields[field_name].default
    assert default is not None, f"{variable} has no default: it must be set"
    return str(default)


def is_settings_variable(name: str) -> bool:
    """Whether ``name`` looks like a variable meant for the settings (so it must be one of theirs)."""
    return name.startswith(ENV_PREFIX) or name == "MLFLOW_TRACKING_URI"


# --- the command line ---------------------------------------------------------------------------


def parse_command(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed by the ``fraudstream`` command's own parser; AssertionError when it refuses it."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"`fraudstream {shlex.join(argv)}` is refused: {errors.getvalue().strip()}") from None


@cache
def pyproject() -> Mapping:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def project_version() -> str:
    return str(pyproject()["project"]["version"])


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:?=\s*(\S+)\s*$", (REPO / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"the Makefile defines no {name}"
    return match.group(1)


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE))


# --- docker compose -----------------------------------------------------------------------------


COMPOSE_VARIABLES = {
    "GRAFANA_ADMIN_PASSWORD": "grafana-Secret-1",
    "REDIS_PASSWORD": "redis-Secret-2",
    "FRAUD_API_TOKEN": "api-Token-0123456789abcdef",
}
"""The variables a user sets for docker compose (in ``.env``), as the tests stand them in."""

_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>\w+)")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """``text`` with compose's ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` (and the
    forms without the colon, and ``${VAR:+other}``) replaced from ``variables``; ``$$`` is a ``$``.
    AssertionError when a required variable is missing, with compose's message."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op") or "", match.group("arg") or ""
        value = variables.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if unset else str(value)
        if op.endswith("?"):
            assert not unset, f"docker compose refuses to start without {name}: {arg}"
            return str(value)
        if op.endswith("+"):
            return "" if unset else arg
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def compose_references(text: str) -> list[tuple[str, str, str]]:
    """Every ``(name, operator, argument)`` interpolation in ``text`` (operator '' for ``${VAR}``)."""
    return [
        (match.group("name") or match.group("bare"), match.group("op") or "", match.group("arg") or "")
        for match in _INTERPOLATION.finditer(text)
        if match.group(0) != "$$"
    ]


@cache
def compose() -> Mapping:
    return load_yaml(COMPOSE_FILE)


def services() -> dict[str, Mapping]:
    found = compose().get("services")
    assert isinstance(found, dict), "docker-compose.yml has no services"
    assert found, "docker-compose.yml has no services"
    return cast(dict[str, Mapping], found)


def raw_environment(service: Mapping) -> dict[str, str]:
    """A service's environment (map or ``KEY=VALUE`` list form) as written, before interpolation."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (str(item).partition("=") for item in raw)
        return {key: value for key, _, value in pairs}
    return {str(key): "" if value is None else _env_text(value) for key, value in raw.items()}


def environment(service: Mapping, variables: dict[str, str] = COMPOSE_VARIABLES) -> dict[str, str]:
    """A service's environment as the container sees it, with ``variables`` set for compose."""
    return {key: interpolate(value, variables) for key, value in raw_environment(service).items()}


def _env_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_built_here(service: Mapping) -> bool:
    """Whether the service runs the image built from this repository's Dockerfile."""
    build = service.get("build")
    if build is None:
        return False
    context, dockerfile = (
        (build, "Dockerfile")
        if isinstance(build, str)
        else (build.get("context", "."), build.get("dockerfile", "Dockerfile"))
    )
    return (REPO / str(context)).resolve() == REPO and (REPO / str(context) / str(dockerfile)).resolve() == DOCKERFILE


def fraudstream_services() -> dict[str, Mapping]:
    return {name: service for name, service in services().items() if is_built_here(service)}


def command_argv(service: Mapping, variables: dict[str, str] = COMPOSE_VARIABLES) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    return [interpolate(part, variables) for part in argv]


def is_one_shot(service: Mapping) -> bool:
    """A job that runs to completion (``restart: "no"``), as opposed to a long-running service."""
    return service.get("restart", "no") in ("no", False) and service.get("deploy", {}).get("restart_policy") is None


def depends_on(service: Mapping) -> dict[str, str]:
    """The services ``service`` waits for, with their conditions ('' when none is given)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {str(name): "" for name in raw}
    return {str(name): str((spec or {}).get("condition", "")) for name, spec in raw.items()}


def healthcheck_command(service: Mapping) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list):
        return " ".join(str(part) for part in test)
    return str(test or "")


@dataclass(frozen=True)
class PortMapping:
    host_ip: str
    published: int
    target: int


def published_ports(service: Mapping) -> list[PortMapping]:
    """The host ports a service publishes (short ``[ip:]host:container`` or long syntax)."""
    mappings = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            mappings.append(PortMapping(str(entry.get("host_ip", "")), int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 1:
            continue  # an ephemeral host port
        host_ip = parts[0] if len(parts) == 3 else ""
        mappings.append(PortMapping(host_ip, int(parts[-2]), int(parts[-1])))
    return mappings


def option_value(argv: list[str], option: str) -> str | None:
    """The value of ``--option VALUE`` or ``--option=VALUE`` in ``argv``."""
    for index, part in enumerate(argv):
        if part == option and index + 1 < len(argv):
            return argv[index + 1]
        if part.startswith(option + "="):
            return part.split("=", 1)[1]
    return None


def volume_mounts(service: Mapping) -> dict[str, str]:
    """Mount target -> source (a named volume or a path relative to the compose file)."""
    mounts: dict[str, str] = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts[str(entry["target"])] = str(entry.get("source", ""))
        else:
            source, _, rest = str(entry).partition(":")
            mounts[rest.split(":")[0]] = source
    return mounts


def image_reference(image: str) -> tuple[str, str | None, str | None]:
    """``name``, ``tag`` and ``digest`` of an image reference (a registry port is not a tag)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
        return repo, tag, digest or None
    return name, None, digest or None


def is_pinned(image: str) -> bool:
    """Pinned: a digest, or a tag naming a release (at least ``major.minor``), never ``latest``."""
    _, tag, digest = image_reference(image)
    if digest:
        return True
    return tag is not None and "latest" not in tag and re.search(r"\d+\.\d+", tag) is not None


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if not full:
            continue
        keyword, _, arguments = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends with a continuation line"
    return instructions


def dockerfile_stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The instructions of each stage (from its FROM on); the global ARGs before the first FROM are dropped."""
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def global_args(instructions: list[Instruction]) -> dict[str, str]:
    """The ARGs (with defaults) declared before the first FROM, which FROM lines may use."""
    args: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            args[name.strip()] = default.strip().strip('"')
    return args


def substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda match: variables.get(match.group(1), match.group(0)), text)


# --- Kubernetes ---------------------------------------------------------------------------------


@cache
def k8s_documents() -> dict[str, list[Mapping]]:
    """The documents of each manifest in deploy/k8s, by file name (the kustomization apart)."""
    return {
        path.name: load_yaml_documents(path)
        for path in sorted(K8S_DIR.glob("*.y*ml"))
        if path.name not in ("kustomization.yaml", "kustomization.yml")
    }


def k8s_objects(kind: str) -> list[Mapping]:
    return [doc for docs in k8s_documents().values() for doc in docs if doc.get("kind") == kind]


def k8s_object(kind: str, name: str) -> Mapping:
    found = [doc for doc in k8s_objects(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def cpu_cores(quantity: object) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


_MEMORY_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def memory_bytes(quantity: object) -> float:
    text = str(quantity)
    for unit, factor in sorted(_MEMORY_UNITS.items(), key=lambda item: -len(item[0])):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)
