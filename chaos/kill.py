"""Scenario: ``kill -9`` the scorer worker again and again under a steady load; nothing may be lost.

Every ``duration / (kills + 1)`` seconds the worker, once it scored again, gets SIGKILL and a new one
is started at once. Recovery time of a kill: from the kill to the next verdict the broker appended.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chaos.harness import Live, Load, ScenarioResult, Sender, Workers, chaos_lane, run_under_load
from fraudcore.settings import Settings

__all__ = ["run_kill"]


def run_kill(
    base: Settings, load: Load, kills: int, say: Callable[[str], None], *, static_membership: bool = False
) -> ScenarioResult:
    """Run the scenario against the services ``base`` names; removes what it created."""
    kill_times: list[int] = []

    def inject(live: Live) -> None:
        kill_times.extend(_kill_repeatedly(live.workers, live.sender, kills, load.seconds, say))

    with chaos_lane(base, "kill", load) as (lane, scratch):
        instance = {"FRAUD_SCORER_INSTANCE_ID": f"{lane.settings.scorer_group}-worker"} if static_membership else {}
        outcome = run_under_load(lane, scratch, load, say, inject, instance)
    membership = "static membership" if static_membership else "dynamic membership"
    return outcome.result(f"kill -9 x{kills} ({membership})", load, kills, kill_times, {})


def _kill_repeatedly(
    workers: Workers, sender: Sender, kills: int, duration_s: float, say: Callable[[str], None]
) -> list[int]:
    """Kill at even intervals while transactions are sent, each time once the worker scored again."""
    began, interval = time.monotonic(), duration_s / (kills + 1)
    kill_times: list[int] = []
    for n in range(1, kills + 1):
        time.sleep(max(began + n * interval - time.monotonic(), 0.0))
        workers.wait_scoring()  # a kill before it recovered would test nothing the previous one did not
        if not sender.is_alive():
            say(f"every transaction was sent after {n - 1} kills: --rate too high for {kills} kills")
            break
        kill_times.append(workers.kill())
        workers.start()
        say(f"kill {n}/{kills} at {sender.sent:,} sent; worker restarted")
    return kill_times
