"""The producer's Prometheus metrics (base units, ``_total`` counters, no per-card labels).

The send path stays as cheap as it was: the Kafka sink keeps plain per-topic tallies, and
:func:`mirrored` copies their growth into the counters about once a second (and once more at the
end), on the event loop, instead of touching a metric per event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from fraudcore.metrics_registry import process_registry

__all__ = ["KINDS", "OUTCOMES", "ProducerMetrics", "mirrored"]

KINDS = ("transaction", "label")
OUTCOMES = ("sent", "acknowledged", "failed")

Tallies = Mapping[tuple[str, str], int]
"""Counts so far by (kind, outcome)."""


class ProducerMetrics:
    """Every metric the producer exports, registered in one registry (served on ``/metrics``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or process_registry()
        r = self.registry
        self.events = Counter(
            "fraudstream_producer_events",
            "Events handed to the Kafka producer (sent), acknowledged by the broker (acks=all) or not delivered "
            "(failed), by kind.",
            ["kind", "outcome"],
            registry=r,
        )
        self.rows_refused = Counter(
            "fraudstream_producer_rows_refused", "File rows refused by validation (never sent).", registry=r
        )
        self.rate_target = Gauge(
            "fraudstream_producer_rate_target",
            "Transactions per second asked for with --rate (0: as fast as possible).",
            registry=r,
        )
        self._children = {(k, o): self.events.labels(k, o) for k in KINDS for o in OUTCOMES}
        self._seen: dict[tuple[str, str], int] = dict.fromkeys(self._children, 0)
        self._seen_refused = 0

    def mirror(self, tallies: Tallies, rows_refused: int) -> None:
        """Add what ``tallies`` and ``rows_refused`` (running totals) gained since the last call."""
        for key, total in tallies.items():
            gained = total - self._seen[key]
            if gained > 0:
                self._children[key].inc(gained)
                self._seen[key] = total
        if rows_refused > self._seen_refused:
            self.rows_refused.inc(rows_refused - self._seen_refused)
            self._seen_refused = rows_refused


@contextlib.asynccontextmanager
async def mirrored(
    metrics: ProducerMetrics, read: Callable[[], tuple[Tallies, int]], interval_s: float = 1.0
) -> AsyncIterator[None]:
    """Mirror ``read()`` (tallies, rows refused) into ``metrics`` every ``interval_s`` while the block
    runs, and once more when it ends."""

    async def keep_up() -> None:
        while True:
            metrics.mirror(*read())
            await asyncio.sleep(interval_s)

    task = asyncio.create_task(keep_up())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        metrics.mirror(*read())
