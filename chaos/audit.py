"""The fault suite's independent check: what was sent against what came out of Kafka.

Pure code over records already read back (no I/O), so the same check judges every scenario. A
verdict is matched to its transaction by id; a dead letter to its input by the original bytes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field

__all__ = ["Audit", "VerdictSeen", "audit"]


@dataclass(frozen=True, slots=True)
class VerdictSeen:
    """The parts of a verdict the audit compares."""

    transaction_id: str
    model_version: str
    feature_digest: str
    appended_ms: int


@dataclass(frozen=True)
class Audit:
    """Figures of one run; :meth:`failures` names the targets it misses."""

    valid_sent: int
    verdicts: int
    """Verdict records read, duplicates included."""
    missing: int
    """Valid transactions without any verdict."""
    raw_duplicates: int
    """Verdicts beyond the first of their transaction (at-least-once redelivery)."""
    duplicates_after_dedupe: int
    """Transactions whose verdicts disagree on their features: deduplicating by id cannot make them one."""
    unexpected: int
    """Verdicts of transactions never sent (or sent as invalid)."""
    versions: Counter[str] = field(default_factory=Counter)
    """Verdicts per model version."""
    unvalidated: int = 0
    """Verdicts naming a version outside the validated ones."""
    invalid_sent: int = 0
    dead_lettered: int = 0
    """Invalid inputs found in the dead-letter topic (by their original bytes)."""
    without_reason: int = 0
    """Dead letters of invalid inputs with an empty reason."""

    def failures(self) -> list[str]:
        """The targets missed: every valid transaction scored, none conflicting, none from an unvalidated
        model, every invalid input dead-lettered with a reason."""
        checks = {
            "valid transactions without a verdict": self.missing,
            "transactions with conflicting verdicts": self.duplicates_after_dedupe,
            "verdicts of transactions never sent": self.unexpected,
            "verdicts from an unvalidated model version": self.unvalidated,
            "invalid inputs missing from the dead-letter topic": self.invalid_sent - self.dead_lettered,
            "dead letters without a reason": self.without_reason,
        }
        return [f"{what}: {count:,}" for what, count in checks.items() if count]


def audit(
    valid_ids: Set[str],
    verdicts: Iterable[VerdictSeen],
    validated_versions: Set[str],
    *,
    invalid_values: Set[bytes] = frozenset(),
    dead_letters: Mapping[bytes, str] | None = None,
) -> Audit:
    """Judge a run: ``dead_letters`` maps each dead letter's original value to its reason."""
    digests: dict[str, set[str]] = defaultdict(set)
    versions: Counter[str] = Counter()
    count = 0
    for verdict in verdicts:
        count += 1
        digests[verdict.transaction_id].add(verdict.feature_digest)
        versions[verdict.model_version] += 1
    letters = dead_letters or {}
    found = [value for value in invalid_values if value in letters]
    return Audit(
        valid_sent=len(valid_ids),
        verdicts=count,
        missing=len(valid_ids - digests.keys()),
        raw_duplicates=count - len(digests),
        duplicates_after_dedupe=sum(len(seen) > 1 for seen in digests.values()),
        unexpected=len(digests.keys() - valid_ids),
        versions=versions,
        unvalidated=sum(n for version, n in versions.items() if version not in validated_versions),
        invalid_sent=len(invalid_values),
        dead_lettered=len(found),
        without_reason=sum(not letters[value].strip() for value in found),
    )
