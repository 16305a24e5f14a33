"""Subcommands that manage the local infrastructure: prepare, up, status, down."""

from __future__ import annotations

import argparse

from fraudcore.local.health import ServiceStatus
from fraudcore.local.stack import LocalStack
from fraudcore.mlflow_store import fail_fast_over_http
from fraudcore.settings import Settings

__all__ = ["down", "prepare", "status", "up"]


def prepare(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch the Kafka broker jars into the cache."""
    stack = LocalStack(settings)
    if not settings.kafka_is_local:
        print(f"kafka: external cluster {settings.bootstrap_servers}, nothing to fetch")
        return 0
    print(f"kafka: jars for Apache Kafka {settings.kafka_version} in {stack.kafka.fetch_jars()}")
    return 0


def up(args: argparse.Namespace, settings: Settings) -> int:
    """Start the local services and print where each listens."""
    print(f"starting local infrastructure (data in {settings.data_dir}) ...", flush=True)
    fail_fast_over_http(request_timeout_s=settings.service_wait_s)
    return _report(LocalStack(settings).up())


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Print each service's health; exit 1 if any is down (an MLflow sqlite file that does not exist is
    down: it is never created here)."""
    fail_fast_over_http(request_timeout_s=settings.service_wait_s)
    return _report(LocalStack(settings).status())


def down(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the local services, optionally wiping their data."""
    stopped = LocalStack(settings).down(wipe=args.wipe)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if args.wipe:
        print(f"wiped Kafka, Redis and MLflow data under {settings.data_dir}")
    return 0


def _report(statuses: list[ServiceStatus]) -> int:
    for service in statuses:
        print(service.line())
    return 0 if all(service.healthy for service in statuses) else 1
