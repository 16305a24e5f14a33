"""Scenario: the model registry unavailable, then bad reload events, under a steady load.

The lane's models live in a private MLflow tracking server (:mod:`chaos.mlflow_server`) the worker
reaches over HTTP. Versions 1 and 2 are valid (1 is champion); a version whose artifact was damaged
after registration and one trained on another feature list are registered too. Once the worker scores:

1. MLflow is stopped for ``outage_s`` seconds, then started again on the same store. Meanwhile a reload
   event (the trainer's, for the champion) and an admin ``POST /reload`` make the worker refresh: each
   must fail and keep the champion, and scoring must go on (the worker gets an API token of its own
   for the ``POST /reload``). Once MLflow answers again, version 2 is promoted with its reload event;
   recovery is from MLflow back to version 2's first verdict.
2. Reload events published as the trainer publishes them, the alias moved where the event would: the
   damaged version promoted, the incompatible one promoted (the alias is put back on version 2 after
   each, as an operator would), an event for a version that does not exist (only the event), and
   version 1's promotion event arriving after version 2's (out of order, only the event). After each
   the worker must still serve version 2.

Every verdict must name version 1 or 2, none may be lost, and verdicts must keep coming.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise

from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.lanes import Lane
from chaos.bad_versions import BadVersions, register_bad_versions
from chaos.harness import Live, Load, Outcome, ScenarioResult, chaos_lane, next_after, run_under_load
from chaos.mlflow_server import MlflowServer, private_mlflow_server
from chaos.worker_api import ModelState, counter_values, model_state, request_reload
from fraudcore.kafka_security import client_options
from fraudcore.models.signing import private_pem
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.events import ModelEvent
from schemas.topics import key_for
from trainer.publishing import Registered, reload_event

__all__ = ["run_model_faults"]

_REACTION_TIMEOUT_S = 120.0
"""Longest wait for the worker to act on a reload event (it loads and validates the version)."""
_STEADY_S = 3.0
"""Scoring left undisturbed before each fault."""
_MISSING_VERSION = "999"
_REFRESHES = "fraudstream_scorer_model_refreshes_total"
_REFUSALS = "fraudstream_scorer_model_load_failures_total"


@dataclass(frozen=True)
class _BadEvent:
    """One bad reload event and what the worker did with it."""

    name: str
    version: str
    """The version the event named."""
    at_ms: int
    """When it was published (the alias moved just before, when it moves)."""
    after: ModelState


@dataclass
class _Seen:
    """What the injection did and saw, for the figures."""

    down_ms: int = 0
    back_ms: int = 0
    promoted_ms: int = 0
    promotion_served: bool = False
    """Whether the worker served the version promoted once MLflow was back."""
    during_outage: dict[str, str] = field(default_factory=dict)
    """Per reload attempted while MLflow was down: what the worker did."""
    events: list[_BadEvent] = field(default_factory=list)
    refusals: dict[str, float] = field(default_factory=dict)
    """The worker's refusal counter by reason, at the end."""


def run_model_faults(base: Settings, load: Load, outage_s: float, say: Callable[[str], None]) -> ScenarioResult:
    """Run the scenario against the broker and Redis ``base`` names (MLflow: a private server of its own)."""
    seen = _Seen()
    bad: list[BadVersions] = []
    with private_mlflow_server() as server:
        say(f"private MLflow tracking server at {server.url}")
        served = base.derived(  # a tracking server: the scenario signs with a key pair of its own
            mlflow_tracking_uri=server.url,
            api_token=secrets.token_urlsafe(32),
            model_signing_key=private_pem(Ed25519PrivateKey.generate()),
        )

        def setup(lane: Lane) -> None:
            bad.append(register_bad_versions(lane.settings, server.artifacts, load.seed))
            say(f"versions {bad[0].corrupt} (artifact damaged), {bad[0].incompatible} (other features) registered")

        def inject(live: Live) -> None:
            try:
                _inject(live, server, bad[0], outage_s, seen, say)
            finally:
                if seen.down_ms and not seen.back_ms:
                    server.start()  # the lane's models are removed through it

        with chaos_lane(served, "models", load) as (lane, scratch):
            outcome = run_under_load(lane, scratch, load, say, inject, versions=2, setup=setup)
    return _result(outcome, load, outage_s, seen)


def _inject(
    live: Live, server: MlflowServer, bad: BadVersions, outage_s: float, seen: _Seen, say: Callable[[str], None]
) -> None:
    from fraudcore.mlflow_store import connect
    from fraudcore.models import promote

    settings, port, (first, second) = live.lane.settings, live.workers.port, live.versions
    client = connect(settings)
    live.workers.wait_scoring()
    time.sleep(_STEADY_S)

    failed = _refreshes(port, "failed")
    seen.down_ms = server.stop()
    say(f"MLflow stopped at {live.sender.sent:,} sent; started again in {outage_s:g} s")
    _publish(live, reload_event(settings, Registered(first, True, None), {}, "fraudstream chaos: MLflow down"))
    state = _wait_for(port, lambda _: _refreshes(port, "failed") > failed, _REACTION_TIMEOUT_S)
    waited = f"no failure within {_REACTION_TIMEOUT_S:.0f} s"
    seen.during_outage["reload event"] = waited if state is None else _did(state)
    try:
        answer = request_reload(port, settings.api_tokens[0], _REACTION_TIMEOUT_S)
        seen.during_outage["POST /reload"] = f"HTTP {answer.status}, refused ({answer.refused})"
    except TimeoutError:
        seen.during_outage["POST /reload"] = f"no answer within {_REACTION_TIMEOUT_S:.0f} s"
    time.sleep(max(seen.down_ms / 1000 + outage_s - time.time(), 0.0))
    seen.back_ms = server.start()
    say(f"MLflow answers again at {live.sender.sent:,} sent; promoting version {second}")

    seen.promoted_ms = int(time.time() * 1000)
    previous = promote(client, settings.model_name, second)
    _publish(live, reload_event(settings, Registered(second, True, previous), {}, "fraudstream chaos: MLflow back"))
    seen.promotion_served = _wait_for(port, lambda s: s.serving == second, _REACTION_TIMEOUT_S) is not None

    faults = [
        ("corrupt artifact", bad.corrupt, True),
        ("incompatible features", bad.incompatible, True),
        ("version that does not exist", _MISSING_VERSION, False),
        (f"out of order: version {first}'s event after version {second}'s", first, False),
    ]
    for name, version, moves_alias in faults:
        time.sleep(_STEADY_S)
        if not live.sender.is_alive():
            say(f"every transaction was sent before the fault {name!r}: too few --transactions for this scenario")
            break
        before = _refreshes(port)
        at_ms = int(time.time() * 1000)
        previous = promote(client, settings.model_name, version) if moves_alias else second
        _publish(live, reload_event(settings, Registered(version, True, previous), {}, f"fraudstream chaos: {name}"))
        alias_names = version if moves_alias else second
        state = _wait_for(port, partial(_refreshed_since, port, before, alias_names), _REACTION_TIMEOUT_S)
        if moves_alias:
            promote(client, settings.model_name, second)  # back on the validated champion, as an operator would
        seen.events.append(_BadEvent(name, version, at_ms, state or model_state(port)))
        say(f"{name} (event for version {version}): {_did(seen.events[-1].after)}")
    seen.refusals = counter_values(port, _REFUSALS)


def _result(outcome: Outcome, load: Load, outage_s: float, seen: _Seen) -> ScenarioResult:
    second = outcome.versions[1]
    appended = outcome.appended_ms()
    during = sum(seen.down_ms < at <= seen.back_ms for at in appended)
    promoted = sorted(v.appended_ms for v in outcome.verdicts if v.model_version == second)
    recovery, swap = next_after(promoted, seen.back_ms), next_after(promoted, seen.promoted_ms)
    figures = {
        "MLflow unavailable (stopped → answering again)": (
            f"{(seen.back_ms - seen.down_ms) / 1000:.1f} s ({outage_s:g} s stopped, then its start-up)"
        ),
        "verdicts while MLflow was unavailable": f"{during:,}",
        **{f"{attempt} while MLflow was down": did for attempt, did in seen.during_outage.items()},
        f"recovery, MLflow back → first verdict of version {second} (promoted then)": (
            "no verdict" if math.isnan(recovery) else f"{recovery:.1f} s"
        ),
        f"of which promotion → first verdict of version {second}": (
            "no verdict" if math.isnan(swap) else f"{swap:.2f} s"
        ),
        **{f"{event.name} (event for version {event.version})": _did(event.after) for event in seen.events},
        "refusals counted by the worker (model_load_failures_total)": _counts(seen.refusals),
        "longest gap between verdicts, MLflow stopped → last bad event + 5 s": _longest_gap(appended, seen),
    }
    missed = [
        f"{event.name}: the worker serves version {event.after.serving}, not {second}"
        for event in seen.events
        if event.after.serving != second
    ]
    if seen.back_ms and not seen.promotion_served:
        missed.append(f"version {second}, promoted once MLflow was back, not served in {_REACTION_TIMEOUT_S:.0f} s")
    missed += [
        f"{attempt} while MLflow was down: {did}"
        for attempt, did in seen.during_outage.items()
        if did.startswith("no ") or "store_unavailable" not in did
    ]
    ends = [seen.back_ms, *(event.at_ms for event in seen.events)] if seen.back_ms else []
    return outcome.result(
        f"MLflow stopped for {outage_s:g} s, then 4 bad reload events", load, 5, ends, figures, missed=missed
    )


def _did(state: ModelState) -> str:
    """What the worker did with a refresh, in words."""
    if state.refused is not None:
        return f"refused ({state.refused}), serves version {state.serving}"
    return f"alias names version {state.attempted}: nothing to load, serves version {state.serving}"


def _counts(values: dict[str, float]) -> str:
    nonzero = [(labels.split('"')[1], count) for labels, count in sorted(values.items()) if count]
    return ", ".join(f"{reason} {count:.0f}" for reason, count in nonzero) or "none"


def _longest_gap(appended: list[int], seen: _Seen) -> str:
    end = (seen.events[-1].at_ms if seen.events else seen.back_ms) + 5_000
    stamps = [at for at in appended if seen.down_ms <= at <= end]
    gaps = [(b - a) / 1000 for a, b in pairwise(stamps)]
    return f"{max(gaps):.2f} s" if gaps else "no verdicts"


def _refreshed_since(port: int, before: float, version: str, state: ModelState) -> bool:
    """Whether the worker refreshed its champion since it counted ``before`` refreshes, and found the
    alias naming ``version``."""
    return state.attempted == version and _refreshes(port) > before


def _refreshes(port: int, result: str = "") -> float:
    """The worker's count of champion refreshes (with ``result``, e.g. ``failed``: of those only)."""
    wanted = ['alias="champion"', *([f'result="{result}"'] if result else [])]
    return sum(value for labels, value in counter_values(port, _REFRESHES).items() if all(w in labels for w in wanted))


def _wait_for(port: int, done: Callable[[ModelState], bool], timeout_s: float) -> ModelState | None:
    """Poll the worker's ``GET /model`` until ``done`` holds (its state then), or None at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = model_state(port)
        if done(state):
            return state
        time.sleep(0.2)
    return None


def _publish(live: Live, event: ModelEvent) -> None:
    """Send ``event`` on the lane's model-events topic and wait for its acknowledgement."""

    async def send() -> None:
        producer = AIOKafkaProducer(**client_options(live.lane.settings), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(live.lane.topics.model_events, encode(event), key_for(event))
        finally:
            await producer.stop()

    asyncio.run(send())
