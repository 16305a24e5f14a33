"""Scenario: the scorer scaled 1 → 2 → 1 workers mid-stream, ``cycles`` times, under a steady load.

The lane's worker scores alone; at the start of each cycle a second worker is started and joins the
consumer group once started up (the partitions are shared out again: about a third into the cycle on
an idle machine), at two thirds it leaves (SIGTERM: it leaves the group on its way out; SIGKILL: its
partitions move once the session timeout expires), later when its start-up left the two less than a
third of a cycle together. Nothing may be lost. Per
join and leave: the rebalance pause, the longest time without any verdict appended from the change to
the next one (the report's recovery); while two ran, how many transactions each scored
(each worker's own ``scored`` counter, read just before the second one leaves).
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from chaos.harness import Live, Load, ScenarioResult, Workers, chaos_lane, run_under_load
from fraudcore.settings import Settings

__all__ = ["Change", "Gap", "Leave", "Rebalances", "longest_gap", "pauses", "run_scale"]

Leave = Literal["term", "kill"]
"""How the second worker leaves: SIGTERM (graceful) or SIGKILL."""


@dataclass(frozen=True, slots=True)
class Change:
    """A join (the second worker started) or a leave (the signal sent to it)."""

    kind: Literal["join", "leave"]
    at_ms: int


@dataclass(frozen=True, slots=True)
class Gap:
    """A time without any verdict appended: from the verdict before it to the next one."""

    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        """How long no verdict was appended."""
        return (self.end_ms - self.start_ms) / 1000


@dataclass
class Rebalances:
    """What the scaling did, as it happened."""

    changes: list[Change] = field(default_factory=list)
    shares: list[tuple[float, float]] = field(default_factory=list)
    """Per cycle: transactions scored by the first and by the second worker while both ran."""
    startups: list[float] = field(default_factory=list)
    """Per join: seconds from the second worker's start to its first transaction scored."""
    exit_codes: list[int] = field(default_factory=list)
    """Per leave: the second worker's exit code (SIGKILL: -9)."""


def longest_gap(appended_ms: Sequence[int], since_ms: int, until_ms: int) -> Gap | None:
    """The longest gap between consecutive appends (sorted) that ends after ``since_ms`` and starts before
    ``until_ms``; None when no gap overlaps the window."""
    first = max(bisect_right(appended_ms, since_ms), 1)
    last = min(bisect_left(appended_ms, until_ms), len(appended_ms) - 1)
    gaps = [Gap(appended_ms[i - 1], appended_ms[i]) for i in range(first, last + 1)]
    return max(gaps, key=lambda gap: gap.end_ms - gap.start_ms, default=None)


def pauses(appended_ms: Sequence[int], changes: Sequence[Change]) -> list[Gap | None]:
    """Per change: the longest gap from it to the next change (the last one: to the last verdict)."""
    last = appended_ms[-1] + 1 if appended_ms else 0
    ends = [change.at_ms for change in changes[1:]] + ([last] if changes else [])
    return [longest_gap(appended_ms, change.at_ms, until) for change, until in zip(changes, ends, strict=True)]


def run_scale(
    base: Settings,
    load: Load,
    cycles: int,
    say: Callable[[str], None],
    *,
    leave: Leave = "term",
    static_membership: bool = False,
) -> ScenarioResult:
    """Run the scenario against the services ``base`` names; removes what it created."""
    done = Rebalances()
    with chaos_lane(base, "scale", load) as (lane, scratch):

        def instance(name: str) -> dict[str, str]:
            return {"FRAUD_SCORER_INSTANCE_ID": f"{lane.settings.scorer_group}-{name}"} if static_membership else {}

        def inject(live: Live) -> None:
            second = Workers(lane, scratch, instance("second"), name="second")
            try:
                _scale_repeatedly(live, second, cycles, load.seconds, leave, say, done)
            finally:
                second.stop()

        outcome = run_under_load(lane, scratch, load, say, inject, instance("first"))
    appended = outcome.appended_ms()
    gaps = pauses(appended, done.changes)
    membership = "static membership" if static_membership else "dynamic membership"
    how = "SIGTERM" if leave == "term" else "SIGKILL"
    scenario = f"scale 1 → 2 → 1 workers x{cycles}, the second leaving by {how} ({membership})"
    figures = _figures(done, gaps, appended, how)
    # A rebalance's recovery is its pause: from the last verdict before it to the next one.
    pause_starts = [gap.start_ms if gap else change.at_ms for change, gap in zip(done.changes, gaps, strict=True)]
    return outcome.result(scenario, load, 2 * cycles, pause_starts, figures)


def _scale_repeatedly(
    live: Live,
    second: Workers,
    cycles: int,
    duration_s: float,
    leave: Leave,
    say: Callable[[str], None],
    done: Rebalances,
) -> None:
    """Per cycle, over what is left of the sending once the first worker scores: the second worker starts
    at the cycle's start (it joins once started up), and leaves at two thirds, or a third of a cycle after
    it first scored if that is later."""
    live.workers.wait_scoring()
    left_s = duration_s - (time.time() * 1000 - live.sender.began_ms) / 1000  # the worker's start-up took some
    began, interval = time.monotonic(), max(left_s, 0.0) / cycles
    for n in range(cycles):
        time.sleep(max(began + n * interval - time.monotonic(), 0.0))
        if not live.sender.is_alive():
            say(f"every transaction was sent after {n} cycles: --rate too high for {cycles} cycles")
            return
        join = Change("join", _now_ms())
        second.start()
        if not _scores_while_sending(live, second):
            second.stop()
            say("every transaction was sent before the second worker scored: send longer than its start-up")
            return
        done.changes.append(join)
        done.startups.append((_now_ms() - join.at_ms) / 1000)
        first_at_join, second_at_join = live.workers.scored(), second.scored()
        say(f"cycle {n + 1}/{cycles}: two workers score at {live.sender.sent:,} sent")
        both_since = time.monotonic()  # a slow start-up delays the leave: both run a third of a cycle at least
        time.sleep(max(began + (n + 2 / 3) * interval, both_since + interval / 3) - time.monotonic())
        done.shares.append((live.workers.scored() - first_at_join, second.scored() - second_at_join))
        if leave == "kill":
            done.changes.append(Change("leave", second.kill()))
            done.exit_codes.append(-9)
        else:
            done.changes.append(Change("leave", _now_ms()))
            assert second.current is not None
            done.exit_codes.append(second.current.stop())
        say(f"cycle {n + 1}/{cycles}: the second worker left at {live.sender.sent:,} sent")


def _scores_while_sending(live: Live, second: Workers) -> bool:
    """Wait until the second worker scored (True), or the sending ended before it did (False)."""
    while second.scored() < 1:
        if not live.sender.is_alive():
            return False
        if not second.alive():
            second.wait_scoring()  # raises, with the end of its log
        time.sleep(0.2)
    return True


def _figures(done: Rebalances, gaps: list[Gap | None], appended: list[int], how: str) -> dict[str, str]:
    """The scenario's own rows of the report."""

    def per(kind: str) -> str:
        values = [g.seconds if g else float("nan") for c, g in zip(done.changes, gaps, strict=True) if c.kind == kind]
        return ", ".join(f"{v:.2f}" for v in values) + " s" if values else "none"

    first = done.changes[0].at_ms if done.changes else (appended[-1] + 1 if appended else 0)
    steady = longest_gap(appended, appended[0], first) if appended else None
    joins = sum(change.kind == "join" for change in done.changes)
    exits = ", ".join(str(code) for code in done.exit_codes) or "none"
    return {
        "joins / leaves": f"{joins} / {len(done.changes) - joins} (the second worker leaving by {how})",
        "longest time without a verdict, one worker, before the first join": (
            f"{steady.seconds:.2f} s" if steady else "none"
        ),
        "the second worker's start → its first transaction scored": (
            ", ".join(f"{s:.1f}" for s in done.startups) + " s" if done.startups else "none"
        ),
        "rebalance pause at each join (longest time without a verdict)": per("join"),
        "rebalance pause at each leave (longest time without a verdict)": per("leave"),
        "scored while two ran, first / second worker, per cycle": (
            "; ".join(f"{a:,.0f} / {b:,.0f}" for a, b in done.shares) or "none"
        ),
        "the second worker's exit codes": exits,
    }


def _now_ms() -> int:
    return int(time.time() * 1000)
