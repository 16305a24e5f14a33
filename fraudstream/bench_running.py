"""What every ``fraudstream bench`` section does around its measurement: refuse bad arguments, start
the services it needs, run it, stop the services when asked, print the table and write the JSON file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from fraudcore.settings import Settings
from fraudstream import infra_commands

__all__ = ["EXIT_FAILED", "EXIT_INFRA", "EXIT_USAGE", "Report", "run_reported"]

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INFRA: Final = 3


class Report(Protocol):
    """What a bench section's report gives the command."""

    @property
    def command(self) -> str: ...

    def document(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Report)


def run_reported(
    name: str,
    args: argparse.Namespace,
    settings: Settings,
    problems: list[str],
    run: Callable[[Callable[[str], None]], R],
    render: Callable[[R], str],
    *,
    needs_services: bool = True,
) -> int:
    """Run one bench section as the command ``name``; ``problems`` are the arguments' (exit 2 when
    any). ``run`` gets the progress printer and returns the report, which ``render`` makes a table; a
    :class:`~bench.errors.BenchError` it raises is printed (exit 1)."""
    json_path: Path | None = args.json
    if json_path is not None and not json_path.parent.is_dir():
        problems = [*problems, f"--json {json_path}: the folder {json_path.parent} does not exist"]
    if problems:
        print(f"{name}: " + "; ".join(problems), file=sys.stderr)
        return EXIT_USAGE
    from bench.errors import BenchError

    if needs_services and infra_commands.up(args, settings) != 0:
        return EXIT_INFRA
    try:
        report = run(partial(print, flush=True))
    except BenchError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if args.stop_infra:
            infra_commands.down(argparse.Namespace(wipe=False), settings)
    print()
    print(render(report))
    print(f"\ncommand: {report.command}")
    if json_path is not None:
        json_path.write_text(json.dumps(report.document(), indent=1) + "\n", encoding="utf-8")
        print(f"written: {json_path}")
    return 0
