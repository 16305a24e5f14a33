"""The fault suite's scenarios, small: a real scorer killed under load, its Redis or its Kafka broker stopped;
nothing lost."""

from __future__ import annotations

import math

from chaos.broker_outage import BrokerStop, run_broker_outage
from chaos.harness import Load
from chaos.kill import run_kill
from chaos.redis_outage import run_redis_outage
from chaos.reloads import run_reloads
from fraudcore.settings import Settings


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
