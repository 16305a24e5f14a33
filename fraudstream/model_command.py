"""``fraudstream model list|promote|rollback|keygen``: the registry's versions and aliases, and the
key pair that signs the versions."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer

from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.kafka_security import client_options
from fraudcore.local.health import require_kafka
from fraudcore.settings import Settings
from fraudstream.help_text import plain
from schemas.enums import ModelEventKind

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["add_parser"]

_SHOWN_METRICS = ("challenger_auc_roc", "challenger_average_precision", "challenger_card_precision_at_100")


def add_parser(commands: Any) -> None:
    """Register ``model`` and its subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "model", help="list the registered versions, promote one, roll back", description=plain(__doc__)
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="versions with their aliases and metrics")
    listing.set_defaults(handler=list_versions)
    promoting = actions.add_parser("promote", help="make VERSION the champion and tell the scorers")
    promoting.add_argument("version", metavar="VERSION", help="a registered version number")
    promoting.set_defaults(handler=promote_version)
    rollback = actions.add_parser("rollback", help="champion <- previous, and tell the scorers")
    rollback.set_defaults(handler=roll_back)
    keygen = actions.add_parser(
        "keygen",
        help="create the Ed25519 key pair that signs model versions and print the variables to set",
        description="Write NAME.pem (the private key, mode 0600: trainers only) into DIR and NAME.pub.pem (the "
        "public key: scorers) into PUBLIC_DIR, then print FRAUD_MODEL_SIGNING_KEY and FRAUD_MODEL_VERIFY_KEYS. "
        "Existing files are never overwritten. To rotate: create a new pair, list both public keys in "
        "FRAUD_MODEL_VERIFY_KEYS, switch the trainers to the new private key, then drop the old public key "
        "once no served version is signed with it.",
    )
    keygen.add_argument("--dir", type=Path, default=Path("."), help="folder of the private key (default: .)")
    keygen.add_argument("--public-dir", type=Path, help="folder of the public key (default: the private key's folder)")
    keygen.add_argument(
        "--keep-existing",
        action="store_true",
        help="when both files exist already, keep them and succeed (for a deployment's one-shot job)",
    )
    keygen.add_argument(
        "--name", default="fraudstream-model-signing", help="file name stem (default: fraudstream-model-signing)"
    )
    keygen.set_defaults(handler=generate_keys)


def list_versions(args: argparse.Namespace, settings: Settings) -> int:
    """Print every version of the model, newest first."""
    from fraudcore.mlflow_store import connect, require_store
    from fraudcore.models import list_versions as registry_versions

    require_store(settings)

    versions = registry_versions(connect(settings), settings.model_name)
    if not versions:
        print(f"model {settings.model_name!r} has no versions yet (`fraudstream train` registers them)")
        return 0
    header = f"{'version':>7}  {'aliases':<22} {'created (UTC)':<16}  {'AUC':>6} {'AP':>6} {'CP@100':>6}"
    print(f"model {settings.model_name}\n{header}")
    for info in sorted(versions, key=lambda v: int(v.version), reverse=True):
        values = [info.metrics.get(name) for name in _SHOWN_METRICS]
        shown = " ".join(f"{v:6.3f}" if v is not None else f"{'-':>6}" for v in values)
        print(f"{info.version:>7}  {','.join(info.aliases) or '-':<22} {info.created_at:%Y-%m-%d %H:%M}  {shown}")
    return 0


def promote_version(args: argparse.Namespace, settings: Settings) -> int:
    """Move ``champion`` to VERSION (the old champion becomes ``previous``) and broadcast."""
    from fraudcore.mlflow_store import connect, require_store
    from fraudcore.models import CHAMPION, resolve_alias
    from fraudcore.models import list_versions as registry_versions

    require_store(settings)
    require_kafka(settings)  # the scorers are told on Kafka: check it before the champion moves
    client = connect(settings)
    known = {info.version for info in registry_versions(client, settings.model_name)}
    if args.version not in known:
        listed = ", ".join(sorted(known, key=int)) or "none"
        print(
            f"fraudstream model promote: no version {args.version!r} of {settings.model_name} (known: {listed})",
            file=sys.stderr,
        )
        return 2
    before = resolve_alias(client, settings.model_name, CHAMPION)
    _move_champion(settings, client, args.version, ModelEventKind.PROMOTED, "promoted from the command line")
    print(f"champion: version {args.version} (previous: {before or 'none'}); scorers told to reload")
    return 0


def roll_back(args: argparse.Namespace, settings: Settings) -> int:
    """Make the ``previous`` version champion again and broadcast."""
    from fraudcore.mlflow_store import connect, require_store
    from fraudcore.models import CHAMPION, PREVIOUS, resolve_alias

    require_store(settings)
    require_kafka(settings)  # the scorers are told on Kafka: check it before the champion moves
    client = connect(settings)
    previous = resolve_alias(client, settings.model_name, PREVIOUS)
    if previous is None:
        print(
            f"fraudstream model rollback: {settings.model_name} has no 'previous' version to go back to",
            file=sys.stderr,
        )
        return 1
    current = resolve_alias(client, settings.model_name, CHAMPION)
    _move_champion(settings, client, previous, ModelEventKind.ROLLED_BACK, "rolled back from the command line")
    print(f"champion: version {previous} again (was {current}); scorers told to reload")
    return 0


def generate_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Write a new signing key pair and print the settings that use it."""
    from fraudcore.models.keys import create_key_pair

    name = str(args.name)
    if not name or "/" in name or name.startswith("."):
        print(f"fraudstream model keygen: --name {name!r} must be a plain file name stem", file=sys.stderr)
        return 2
    folder = Path(args.dir).expanduser().resolve()
    public_folder = Path(args.public_dir or args.dir).expanduser().resolve()
    private, public = folder / f"{name}.pem", public_folder / f"{name}.pub.pem"
    try:
        if args.keep_existing and private.exists() and public.exists():
            print(f"keeping the existing key pair {private} and {public}")
            return 0
        fingerprint = create_key_pair(private, public)
    except OSError as exc:
        print(f"fraudstream model keygen: {exc}", file=sys.stderr)
        return 1
    print(f"key {fingerprint}")
    print(f"  private key: {private} (mode 0600; trainers only; never give it to scorers or MLflow)")
    print(f"  public key:  {public} (scorers verify with it)")
    print("set for trainers:")
    print(f"  FRAUD_MODEL_SIGNING_KEY={private}")
    print("set for scorers (and backtests):")
    print(f"  FRAUD_MODEL_VERIFY_KEYS={public}")
    return 0


def _move_champion(settings: Settings, client: MlflowClient, version: str, kind: ModelEventKind, message: str) -> None:
    """``champion`` ← ``version`` and the event the scorers reload on (topics created when missing)."""
    from trainer.publishing import move_champion

    async def move() -> None:
        await ensure_project_topics(settings)
        producer = AIOKafkaProducer(**client_options(settings), acks="all")
        await producer.start()
        try:
            await move_champion(producer, client, settings, version, message, kind)
        finally:
            await producer.stop()

    asyncio.run(move())
