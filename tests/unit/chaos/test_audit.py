"""The independent audit of a fault scenario: what counts as lost, duplicated, conflicting."""

from __future__ import annotations

import math

from chaos.audit import VerdictSeen, audit
from chaos.harness import Load, ScenarioResult
from chaos.report import document, render


def _verdict(tx: str, version: str = "1", digest: str = "d", at_ms: int = 0) -> VerdictSeen:
    return VerdictSeen(tx, version, digest, at_ms)


def test_a_clean_run_meets_every_target() -> None:
    result = audit({"a", "b"}, [_verdict("a"), _verdict("b")], {"1"})
    assert (result.missing, result.raw_duplicates, result.duplicates_after_dedupe) == (0, 0, 0)
    assert result.failures() == []


def test_redelivered_verdicts_with_the_same_features_are_raw_duplicates_only() -> None:
    result = audit({"a"}, [_verdict("a"), _verdict("a"), _verdict("a")], {"1"})
    assert (result.verdicts, result.raw_duplicates, result.duplicates_after_dedupe) == (3, 2, 0)
    assert result.failures() == []


def test_a_redelivery_with_other_features_is_a_duplicate_no_dedupe_removes() -> None:
    result = audit({"a"}, [_verdict("a", digest="x"), _verdict("a", digest="y")], {"1"})
    assert result.duplicates_after_dedupe == 1
    assert result.failures() == ["transactions with conflicting verdicts: 1"]


def test_a_transaction_without_verdict_and_a_verdict_without_transaction_are_both_failures() -> None:
    result = audit({"a", "b"}, [_verdict("a"), _verdict("z")], {"1"})
    assert (result.missing, result.unexpected) == (1, 1)
    assert len(result.failures()) == 2


def test_verdicts_of_a_version_never_validated_are_counted() -> None:
    result = audit({"a", "b"}, [_verdict("a", version="1"), _verdict("b", version="7")], {"1"})
    assert result.versions == {"1": 1, "7": 1}
    assert result.unvalidated == 1
    assert result.failures() == ["verdicts from an unvalidated model version: 1"]


def test_invalid_inputs_must_each_be_dead_lettered_with_a_reason() -> None:
    result = audit(
        set(),
        [],
        {"1"},
        invalid_values={b"{", b"\xff", b"[]"},
        dead_letters={b"{": "truncated", b"\xff": " ", b"other": "x"},
    )
    assert (result.invalid_sent, result.dead_lettered, result.without_reason) == (3, 2, 1)
    assert result.failures() == [
        "invalid inputs missing from the dead-letter topic: 1",
        "dead letters without a reason: 1",
    ]


def test_fewer_faults_than_asked_is_a_failure_and_the_report_says_so() -> None:
    clean = audit({"a"}, [_verdict("a", at_ms=5_000)], {"1"})
    result = ScenarioResult("kill -9 x2", Load(transactions=1), clean, 2, [1.5], 4.0)
    assert result.failures() == ["faults not injected under load: 1"]
    assert "targets MISSED: faults not injected under load: 1" in render(result)
    assert document(result)["recovery_s"] == [1.5]


def test_a_fault_never_followed_by_a_verdict_has_no_recovery_time() -> None:
    clean = audit({"a"}, [_verdict("a")], {"1"})
    result = ScenarioResult("kill -9 x1", Load(transactions=1), clean, 1, [math.nan], 1.0, {"extra": "7"})
    assert document(result)["recovery_s"] == [None]
    assert "no verdict after a fault" in render(result)
    assert "| extra | 7 |" in render(result)
