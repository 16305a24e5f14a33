"""Write (or ``--check``) the JSON Schema files shipped in ``schemas/json``.

``python -m schemas.generate`` rewrites ``schemas/json/<event>.v1.schema.json`` from the models;
``python -m schemas.generate --check`` writes nothing and exits 1 if any file is missing, stale
or unexpected.

The schemas (draft 2020-12) carry the models' required fields, types, bounds, enumerations and
string patterns, and allow additional properties. What JSON Schema cannot say is only enforced by
the decoder: timestamps relative to "now" (future tolerance), the exact 2000-01-01T00:00:00Z floor
across offsets (the pattern only requires years 2000-2999), calendar validity (Feb 30) unless the
validator checks the ``date-time`` format, the size limit, UTF-8, and the JSON grammar itself
(``NaN``/``Infinity`` are not JSON). JSON Schema also counts ``1.0`` as an integer; the models
do not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from schemas.dead_letter import DeadLetter
from schemas.events import Event, Label, ModelEvent, Transaction, Verdict
from schemas.fields import SCHEMA_VERSION

__all__ = ["EVENT_TYPES", "SCHEMA_DIR", "main", "render", "render_all", "schema_path", "stale_files", "write_all"]

EVENT_TYPES: Final[tuple[type[Event], ...]] = (Transaction, Label, Verdict, ModelEvent, DeadLetter)
"""Every top-level event, each with one shipped schema file."""

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "json"
"""Where the schema files live inside the package."""

_DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
_SUFFIX: Final = f".v{SCHEMA_VERSION}.schema.json"


def schema_path(event_type: type[Event], directory: Path = SCHEMA_DIR) -> Path:
    """Path of ``event_type``'s schema file."""
    return directory / f"{event_type.event_name}{_SUFFIX}"


def render(event_type: type[Event]) -> str:
    """The schema file text: sorted keys, two-space indent, trailing newline."""
    schema = event_type.model_json_schema(mode="validation")
    # schema_version is defaulted for Python callers only: on the wire it is required
    schema["properties"]["schema_version"].pop("default", None)
    schema["required"] = ["schema_version", *(name for name in schema["required"] if name != "schema_version")]
    document = {
        "$schema": _DRAFT,
        "$id": f"urn:fraudstream:schema:{event_type.event_name}:v{SCHEMA_VERSION}",
        **schema,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all(directory: Path = SCHEMA_DIR) -> dict[Path, str]:
    """Every schema file's path and expected text."""
    return {schema_path(event_type, directory): render(event_type) for event_type in EVENT_TYPES}


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """Problems with the files in ``directory``: missing, stale or unexpected (empty: up to date)."""
    expected = render_all(directory)
    problems = [
        f"{'missing' if not path.exists() else 'stale'}: {path.name}"
        for path, text in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    present = sorted(directory.glob("*.schema.json")) if directory.is_dir() else []
    problems += [f"unexpected: {path.name}" for path in present if path not in expected]
    return problems


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write every schema file whose content differs; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path, text in render_all(directory).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description="Write or check the schema files.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped files are not up to date")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="output folder (default: the package's)")
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.check:
        problems = stale_files(directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: python -m schemas.generate", file=sys.stderr)
        return 1 if problems else 0
    for path in write_all(directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
