"""The produce loop: events from a source into a sink, paced, bounded, interruptible."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from producer.files import RowError
from producer.pacing import Pacer, Progress
from schemas.events import Event, Label, Transaction

__all__ = ["EventSink", "Limits", "PumpResult", "pump"]

_KEPT_ERRORS = 1000


class EventSink(Protocol):
    """Where produced events go (a Kafka topic set, or dataset files)."""

    async def send(self, event: Event) -> None:
        """Take one event."""


@dataclass(frozen=True)
class Limits:
    """When to stop early: after ``max_transactions`` or ``duration_s`` of wall time."""

    max_transactions: int | None = None
    duration_s: float | None = None


@dataclass
class PumpResult:
    """What one run sent, skipped and left out."""

    transactions: int = 0
    labels: int = 0
    row_errors: list[RowError] = field(default_factory=list)
    """The first rejected rows (all are counted in :attr:`rejected_rows`)."""
    rejected_rows: int = 0
    interrupted: bool = False
    unsent_labels: int = 0
    """Labels of sent transactions not sent because the run was interrupted."""
    elapsed_s: float = 0.0


async def pump(
    events: Iterable[Event | RowError],
    sink: EventSink,
    *,
    pacer: Pacer,
    progress: Progress,
    limits: Limits,
    stop: asyncio.Event,
    leftover_labels: Callable[[], Sequence[Label]] = list,
    result: PumpResult | None = None,
) -> PumpResult:
    """Send ``events`` until they end, a limit is reached or ``stop`` is set.

    On a limit, the labels still owed for sent transactions (``leftover_labels``) are sent too; on
    ``stop`` (Ctrl-C) they are only counted. Invalid rows are recorded, never sent. The counts go
    into ``result`` (a new one by default; pass one to read them while the pump runs).
    """
    result = PumpResult() if result is None else result
    started = time.monotonic()
    try:
        deadline = None if limits.duration_s is None else started + limits.duration_s
        for item in events:
            if stop.is_set():
                result.interrupted = True
                break
            if isinstance(item, RowError):
                result.rejected_rows += 1
                if len(result.row_errors) < _KEPT_ERRORS:
                    result.row_errors.append(item)
                continue
            if isinstance(item, Transaction):
                if limits.max_transactions is not None and result.transactions >= limits.max_transactions:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                await pacer.wait_turn(result.transactions, stop)
                if stop.is_set():
                    result.interrupted = True
                    break
                result.transactions += 1
            else:
                result.labels += 1
            await sink.send(item)
            progress.update(result.transactions, result.labels)
        owed = leftover_labels()
        if result.interrupted:
            result.unsent_labels = len(owed)
        else:
            for label in owed:
                await sink.send(label)
                result.labels += 1
        progress.update(result.transactions, result.labels, final=True)
    finally:  # also when cancelled: the report shows how long it ran
        result.elapsed_s = time.monotonic() - started
    return result
