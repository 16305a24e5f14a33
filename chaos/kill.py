"""Scenario: ``kill -9`` the scorer worker again and again under a steady load; nothing may be lost.

Every ``duration / (kills + 1)`` seconds the worker, once it scored again, gets SIGKILL and a new one
is started at once. Recovery time of a kill: from the kill to the next verdict the broker appended.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chaos.audit import audit
from chaos.harness import Load, ScenarioResult, Sender, Workers, chaos_lane, next_after, prepare, wait_for_verdicts
from fraudcore.settings import Settings

__all__ = ["run_kill"]


def run_kill(
    base: Settings, load: Load, kills: int, say: Callable[[str], None], *, static_membership: bool = False
) -> ScenarioResult:
    """Run the scenario against the services ``base`` names; removes what it created."""
    with chaos_lane(base, "kill", load) as (lane, scratch):
        version, records = prepare(lane, load, say)
        instance = {"FRAUD_SCORER_INSTANCE_ID": f"{lane.settings.scorer_group}-worker"} if static_membership else {}
        workers = Workers(lane, scratch, instance)
        try:
            workers.start()
            sender = Sender(lane.settings, lane.topics.transactions, records, load.rate)
            sender.start()
            kill_times = _kill_repeatedly(workers, sender, kills, load.seconds, say)
            sender.join()
            say(f"all {len(records):,} sent; waiting for their verdicts")
            expected = {r.transaction_id for r in records}
            verdicts = wait_for_verdicts(lane, expected, load.drain_timeout_s, workers)
        finally:
            workers.stop()
    appended = sorted(v.appended_ms for v in verdicts)
    membership = "static membership" if static_membership else "dynamic membership"
    return ScenarioResult(
        scenario=f"kill -9 x{kills} ({membership})",
        load=load,
        audit=audit(expected, verdicts, {version}),
        faults_asked=kills,
        recovery_s=[next_after(appended, at_ms) for at_ms in kill_times],
        seconds=(appended[-1] - sender.began_ms) / 1000 if appended else 0.0,
    )


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
