"""The Prometheus registry each fraudstream process serves: its own metrics, plus the standard
``process_*`` (CPU, memory, open files), ``python_info`` and ``python_gc_*`` series every Prometheus
user expects, and no ``*_created`` series (one more series per counter and histogram child that
dashboards do not use)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

__all__ = ["process_registry"]


def process_registry() -> CollectorRegistry:
    """A new registry holding the standard process, platform and garbage-collector collectors."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide; every registry here wants it
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
