"""Scenario: the scorer's Redis stops for a while under a steady load, then comes back.

The lane gets a ``redis-server`` of its own (free port, scratch folder) so the outage touches nothing
else. At the middle of the sending it is stopped (it saves its snapshot, as on a clean shutdown) for
``outage_s`` seconds, then started again on the same data. The scorer must pause (nothing scored
without features), keep its transactions, and resume: recovery is from Redis back to the next verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.processes import free_port
from chaos.harness import Live, Load, ScenarioResult, chaos_lane, run_under_load
from fraudcore.local.redis_server import RedisServer
from fraudcore.settings import Settings

__all__ = ["run_redis_outage"]

_IN_FLIGHT_MS = 1_000
"""Verdicts appended this soon after the stop may come from a batch whose features were already read."""


def run_redis_outage(base: Settings, load: Load, outage_s: float, say: Callable[[str], None]) -> ScenarioResult:
    """Run the scenario against the broker and MLflow ``base`` names; removes what it created."""
    with chaos_lane(base, "redis", load) as (lane, scratch):
        redis_settings = base.derived(data_dir=scratch / "redis", redis_port=free_port())
        redis = RedisServer(redis_settings)
        outage: list[int] = []

        def inject(live: Live) -> None:
            time.sleep(load.seconds / 2)
            live.workers.wait_scoring()
            outage.append(int(time.time() * 1000))
            redis.stop()
            say(f"Redis stopped at {live.sender.sent:,} sent; back in {outage_s:g} s")
            time.sleep(outage_s)
            redis.start()
            outage.append(int(time.time() * 1000))
            say(f"Redis back at {live.sender.sent:,} sent")

        redis.start()
        try:
            outcome = run_under_load(
                lane, scratch, load, say, inject, {"FRAUD_REDIS_URL": redis_settings.redis_connection_url}
            )
        finally:
            redis.stop()
    stopped_ms, back_ms = outage
    during = sum(stopped_ms + _IN_FLIGHT_MS < at <= back_ms for at in outcome.appended_ms())
    figures = {"verdicts while Redis was down (after 1 s in flight)": f"{during:,}"}
    return outcome.result(f"Redis stopped for {outage_s:g} s", load, 1, [back_ms], figures)
