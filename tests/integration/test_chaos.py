"""The fault suite's scenarios, small: a real scorer killed under load, scaled out and in, its Redis, MLflow or Kafka
stopped, reloads, bad reload events, poison inputs; nothing lost."""

from __future__ import annotations

import math
import re

import pytest

from chaos.broker_outage import BrokerStop, run_broker_outage
from chaos.harness import Load
from chaos.kill import run_kill
from chaos.model_faults import run_model_faults
from chaos.poison import run_poison
from chaos.poison_catalogue import Expected
from chaos.redis_outage import run_redis_outage
from chaos.reloads import run_reloads
from chaos.scale import run_scale
from fraudcore.settings import Settings

pytestmark = pytest.mark.timeout(900)  # a scenario sends for minutes; worker and server start-ups vary with the load


def test_a_scorer_killed_under_load_and_restarted_leaves_no_transaction_without_a_verdict(services: Settings) -> None:
    said: list[str] = []
    result = run_kill(services, Load(transactions=4_000, rate=100, partitions=2), 1, said.append)

    assert result.failures() == [], "\n".join(said)
    assert result.audit.valid_sent == 4_000
    assert result.audit.missing == 0
    assert result.audit.verdicts == result.audit.valid_sent + result.audit.raw_duplicates
    assert len(result.recovery_s) == 1
    assert math.isfinite(result.recovery_s[0])
    assert list(result.audit.versions) == ["1"]


def test_while_the_scorers_redis_is_stopped_nothing_is_scored_and_nothing_lost(services: Settings) -> None:
    said: list[str] = []
    result = run_redis_outage(services, Load(transactions=3_000, rate=100, partitions=2), 8, said.append)

    assert result.failures() == [], "\n".join(said)
    assert result.audit.missing == 0
    assert result.audit.duplicates_after_dedupe == 0
    assert result.figures == {"verdicts while Redis was down (after 1 s in flight)": "0"}
    assert math.isfinite(result.recovery_s[0])


def test_reloads_under_load_alternate_between_validated_versions_and_lose_nothing(services: Settings) -> None:
    said: list[str] = []
    result = run_reloads(services, Load(transactions=6_000, rate=100, partitions=2), 4, said.append)

    assert result.failures() == [], "\n".join(said)
    assert result.figures["reloads done (promotion + reload event)"] == "4"
    assert set(result.audit.versions) == {"1", "2"}  # both served, nothing else
    assert result.audit.missing == 0


def test_a_scorer_killed_and_restarted_with_its_static_member_id_leaves_no_transaction_without_a_verdict(
    services: Settings,
) -> None:
    said: list[str] = []
    result = run_kill(
        services, Load(transactions=6_000, rate=100, partitions=2), 1, said.append, static_membership=True
    )

    assert result.failures() == [], "\n".join(said)
    assert result.scenario == "kill -9 x1 (static membership)"
    assert result.audit.missing == 0
    assert result.audit.duplicates_after_dedupe == 0
    assert math.isfinite(result.recovery_s[0])


def test_a_second_worker_joining_and_leaving_under_load_shares_the_work_and_loses_nothing(services: Settings) -> None:
    said: list[str] = []
    result = run_scale(services, Load(transactions=12_000, rate=100, partitions=3), 1, said.append)

    assert result.failures() == [], "\n".join(said)
    assert result.audit.missing == 0
    assert result.audit.duplicates_after_dedupe == 0
    assert list(result.audit.versions) == ["1"]
    assert len(result.recovery_s) == 2  # the join's rebalance pause and the leave's
    assert all(math.isfinite(pause) for pause in result.recovery_s)
    assert result.figures["joins / leaves"] == "1 / 1 (the second worker leaving by SIGTERM)"
    shares = result.figures["scored while two ran, first / second worker, per cycle"]
    assert re.fullmatch(r"[1-9][\d,]* / [1-9][\d,]*", shares), shares  # both scored: the partitions were shared
    assert result.figures["the second worker's exit codes"] == "0"  # SIGTERM: a clean leave


def test_poison_inputs_are_dead_lettered_with_their_bytes_and_a_reason_and_the_rest_scored(services: Settings) -> None:
    said: list[str] = []
    result = run_poison(services, Load(transactions=3_000, rate=100, partitions=2), 25, said.append)

    assert result.failures() == [], "\n".join(said)
    assert result.audit.missing == 0
    assert result.audit.duplicates_after_dedupe == 0
    assert result.audit.invalid_sent > 0
    assert result.audit.dead_lettered == result.audit.invalid_sent
    assert result.audit.without_reason == 0
    assert result.figures["dead letters read"].endswith("(0 not readable as dead letters)")
    rows = [line.split(" | ") for line in result.tables[0].splitlines()[2:]]
    assert len(rows) == 22  # 108 inputs: every kind at least four times
    for kind, sent, expected, dead_lettered, scored, _ in rows:
        done = dead_lettered if expected == Expected.DEAD_LETTERED.value else scored
        assert (done, int(dead_lettered) + int(scored)) == (sent, int(sent)), kind
    assert result.figures["resent transaction ids: verdicts (features differ)"].endswith("(0)")


def test_mlflow_stopped_and_bad_reload_events_leave_a_validated_champion_scoring(services: Settings) -> None:
    said: list[str] = []
    result = run_model_faults(services, Load(transactions=15_000, rate=100, partitions=2), 5, said.append)

    assert result.failures() == [], "\n".join(said)
    assert result.audit.missing == 0
    assert set(result.audit.versions) == {"1", "2"}  # the champion before the outage, the one promoted after
    figures = result.figures
    assert int(figures["verdicts while MLflow was unavailable"].replace(",", "")) > 0
    assert figures["reload event while MLflow was down"] == "refused (store_unavailable), serves version 1"
    assert figures["POST /reload while MLflow was down"] == "HTTP 503, refused (store_unavailable)"
    unchanged = "alias names version 2: nothing to load, serves version 2"
    assert {name: did for name, did in figures.items() if "(event for version" in name} == {
        "corrupt artifact (event for version 3)": "refused (bad_signature), serves version 2",
        "incompatible features (event for version 4)": "refused (incompatible_features), serves version 2",
        "version that does not exist (event for version 999)": unchanged,
        "out of order: version 1's event after version 2's (event for version 1)": unchanged,
    }
    assert figures["refusals counted by the worker (model_load_failures_total)"] == (
        "bad_signature 1, incompatible_features 1, store_unavailable 1"
    )
    assert math.isfinite(result.recovery_s[0])


def test_a_kafka_broker_killed_and_restarted_under_load_loses_no_transaction(services: Settings) -> None:
    said: list[str] = []
    result = run_broker_outage(
        services, Load(transactions=8_000, rate=100, partitions=2), 10, BrokerStop.KILL, said.append
    )

    assert result.failures() == [], "\n".join(said)
    assert result.audit.valid_sent == 8_000
    assert result.audit.missing == 0
    assert result.audit.duplicates_after_dedupe == 0
    assert result.figures["broker away (stop → ready again)"] != "none"
    assert len(result.recovery_s) == 1
    assert math.isfinite(result.recovery_s[0])
