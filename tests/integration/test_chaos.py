"""The kill scenario of the fault suite, small: a real scorer killed with SIGKILL under load loses nothing."""

from __future__ import annotations

import math

from chaos.kill import KillConfig, run_kill
from fraudcore.settings import Settings


def test_a_scorer_killed_under_load_and_restarted_leaves_no_transaction_without_a_verdict(services: Settings) -> None:
    said: list[str] = []
    result = run_kill(services, KillConfig(transactions=4_000, rate=100, kills=1, partitions=2), said.append)

    assert result.failures() == [], "\n".join(said)
    assert result.audit.valid_sent == 4_000
    assert result.audit.missing == 0
    assert result.audit.verdicts == result.audit.valid_sent + result.audit.raw_duplicates
    assert len(result.recovery_s) == 1
    assert math.isfinite(result.recovery_s[0])
    assert list(result.audit.versions) == ["1"]
