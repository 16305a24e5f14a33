"""The ``fraudstream`` console command: parses arguments, reads the settings once, dispatches.

Exit codes: 0 success, 1 a check failed (a service is down), 2 bad arguments or configuration,
3 the infrastructure could not be started, or a service the command needs did not answer within
``FRAUD_SERVICE_WAIT_S`` (the message names the service and the variable that points at it).
A user's error ends in a message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from fraudcore.local.errors import InfraError
from fraudcore.models.errors import ModelLoadError
from fraudcore.models.keys import ModelKeyError
from fraudcore.settings import ENV_PREFIX, Settings, UnknownVariables, load_settings
from fraudstream import (
    backtest_command,
    bench_command,
    chaos_command,
    demo_command,
    infra_commands,
    model_command,
    produce_command,
    score_command,
    train_command,
)

__all__ = ["build_parser", "main"]

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="fraudstream",
        description="Streaming fraud scorer on Kafka, Redis and MLflow.",
        epilog=f"Configuration comes from environment variables prefixed {ENV_PREFIX} "
        "(and MLFLOW_TRACKING_URI); see the README.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = commands.add_parser("prepare", help="fetch what the local infrastructure needs (Kafka jars)")
    prepare.set_defaults(handler=infra_commands.prepare)

    up = commands.add_parser("up", help="start the local Kafka, Redis and MLflow store")
    up.set_defaults(handler=infra_commands.up)

    status = commands.add_parser("status", help="report whether Kafka, Redis and MLflow are healthy")
    status.set_defaults(handler=infra_commands.status)

    down = commands.add_parser("down", help="stop the local infrastructure (data is kept)")
    down.add_argument("--wipe", action="store_true", help="also delete Kafka, Redis and MLflow data")
    down.set_defaults(handler=infra_commands.down)

    demo_command.add_parser(commands)

    produce_command.add_parser(commands)
    score_command.add_parser(commands)
    train_command.add_parser(commands)
    model_command.add_parser(commands)
    backtest_command.add_parser(commands)
    bench_command.add_parser(commands)
    chaos_command.add_parser(commands)
    return parser


def _version() -> str:
    """The installed distribution's version (``unknown`` when run from a tree that is not installed)."""
    try:
        return importlib.metadata.version("fraudstream")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(_explain_settings_error(exc), file=sys.stderr)
        return EXIT_USAGE
    except UnknownVariables as exc:
        problems = str(exc).replace("\n", "\n  ")
        print(f"fraudstream: the environment names settings that do not exist:\n  {problems}", file=sys.stderr)
        return EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except ValidationError as exc:  # a command-line option overriding a setting
        print(_explain_settings_error(exc, "the options (or the configuration) are invalid"), file=sys.stderr)
        return EXIT_USAGE
    except InfraError as exc:
        print(f"fraudstream {args.command}: {exc}", file=sys.stderr)
        return EXIT_INFRA
    except ModelKeyError as exc:  # the model signing or verification keys are missing or unreadable
        print(f"fraudstream {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModelLoadError as exc:  # the store answered the probe, then failed or refused a model
        print(f"fraudstream {args.command}: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except OSError as exc:  # a file or folder the options name cannot be read or written
        print(f"fraudstream {args.command}: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except KeyboardInterrupt:
        print(f"fraudstream {args.command}: interrupted", file=sys.stderr)
        return 130


_SECRET_FIELDS = frozenset(name for name, spec in Settings.model_fields.items() if "SecretStr" in str(spec.annotation))
"""Settings whose invalid values are not echoed."""


def _explain_settings_error(
    error: ValidationError, what: str = "the configuration in the environment is invalid"
) -> str:
    lines = [f"fraudstream: {what}:"]
    for problem in error.errors():
        if not problem["loc"]:  # a rule across several variables
            lines.append(f"  {problem['msg'].removeprefix('Value error, ')}")
            continue
        field = str(problem["loc"][0])
        if field not in Settings.model_fields and not field.isupper():  # not a setting: a value the command built
            lines.append(f"  {error.title} {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
            continue
        variable = field if field.isupper() else f"{ENV_PREFIX}{field.upper()}"
        shown = "a secret" if field in _SECRET_FIELDS else repr(problem.get("input"))
        lines.append(f"  {variable}: {problem['msg']} (got {shown})")
    return "\n".join(lines)
