"""Scenario: many reloads under a steady load, alternating between two valid versions.

Two versions are registered (the first is champion). While transactions are sent, the ``champion``
alias is moved to the other version ``reloads`` times at even intervals, each time with the reload
event the trainer publishes. Every verdict must name one of the two versions and nothing may be lost;
the swap time of a reload is from the promotion to the first verdict of the version it promoted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from bisect import bisect_right
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from chaos.audit import VerdictSeen
from chaos.harness import Live, Load, ScenarioResult, chaos_lane, run_under_load
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings
from trainer.publishing import move_champion

__all__ = ["run_reloads"]


def run_reloads(base: Settings, load: Load, reloads: int, say: Callable[[str], None]) -> ScenarioResult:
    """Run the scenario against the services ``base`` names; removes what it created."""
    promotions: list[tuple[int, str]] = []

    def inject(live: Live) -> None:
        live.workers.wait_scoring()
        promotions.extend(asyncio.run(_promote_alternately(live, reloads, load.seconds, say)))

    with chaos_lane(base, "reloads", load) as (lane, scratch):
        outcome = run_under_load(lane, scratch, load, say, inject, versions=2)
    swaps = _swap_seconds(outcome.verdicts, promotions)
    figures = {
        "reloads done (promotion + reload event)": f"{len(promotions):,}",
        "swap time, promotion → first verdict of the promoted version": (
            f"median {statistics.median(swaps):.2f} s, max {max(swaps):.2f} s" if swaps else "none"
        ),
        "reloads whose version never decided (superseded first)": f"{len(promotions) - len(swaps):,}",
    }
    return outcome.result(f"{reloads} reloads", load, reloads, [at for at, _ in promotions], figures)


async def _promote_alternately(
    live: Live, reloads: int, duration_s: float, say: Callable[[str], None]
) -> list[tuple[int, str]]:
    """Move ``champion`` to the other version ``reloads`` times, evenly over the first half of what is
    left of the sending; returns ``(epoch ms, version)`` per promotion."""
    from fraudcore.mlflow_store import connect

    settings = live.lane.settings
    client = connect(settings)
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    promotions: list[tuple[int, str]] = []
    try:
        left_s = duration_s - (time.time() * 1000 - live.sender.began_ms) / 1000  # the worker's start-up took some
        began, interval = time.monotonic(), max(left_s, 0.0) / 2 / (reloads + 1)  # within the first half left
        for n in range(1, reloads + 1):
            await asyncio.sleep(max(began + n * interval - time.monotonic(), 0.0))
            if not live.sender.is_alive():
                say(f"every transaction was sent after {n - 1} reloads: --rate too high for {reloads} reloads")
                break
            version = live.versions[n % 2]
            at_ms = int(time.time() * 1000)
            await move_champion(producer, client, settings, version, "fraudstream chaos: reloads")
            promotions.append((at_ms, version))
        say(f"{len(promotions)} reloads done at {live.sender.sent:,} sent")
    finally:
        await producer.stop()
    return promotions


def _swap_seconds(verdicts: list[VerdictSeen], promotions: list[tuple[int, str]]) -> list[float]:
    """Per promotion whose version decided before the next promotion: seconds to its first verdict."""
    by_version: dict[str, list[int]] = {}
    for verdict in verdicts:
        by_version.setdefault(verdict.model_version, []).append(verdict.appended_ms)
    for stamps in by_version.values():
        stamps.sort()
    swaps: list[float] = []
    for n, (at_ms, version) in enumerate(promotions):
        until = promotions[n + 1][0] if n + 1 < len(promotions) else None
        stamps = by_version.get(version, [])
        index = bisect_right(stamps, at_ms)
        if index < len(stamps) and (until is None or stamps[index] <= until):
            swaps.append((stamps[index] - at_ms) / 1000)
    return swaps
