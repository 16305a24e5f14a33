"""What became of each poison kind: sent, dead-lettered (matched by original bytes), scored, reasons seen."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chaos.audit import VerdictSeen
from chaos.poison_catalogue import DUPLICATE
from chaos.poison_stream import KINDS, Poison

__all__ = ["KindTally", "LetterSeen", "render_kinds", "tally"]

_REASON_SHOWN = 70


@dataclass(frozen=True, slots=True)
class LetterSeen:
    """The parts of a dead letter the tally compares."""

    original: bytes | None
    reason_code: str
    reason: str


@dataclass
class KindTally:
    """The outcome of one kind's inputs."""

    kind: str
    expected: str
    sent: int = 0
    dead_lettered: int = 0
    scored: int = 0
    """Inputs with a verdict (the duplicate: resent transactions with a second verdict)."""
    reason_codes: Counter[str] = field(default_factory=Counter)
    """Dead letters by reason code."""
    examples: dict[str, str] = field(default_factory=dict)
    """Reason code → the first reason seen with it."""


def tally(poisons: Sequence[Poison], verdicts: Iterable[VerdictSeen], letters: Iterable[LetterSeen]) -> list[KindTally]:
    """One row per kind, in catalogue order; each dead letter counts for one input with its bytes."""
    verdicts_of = Counter(verdict.transaction_id for verdict in verdicts)
    unclaimed: dict[bytes | None, list[LetterSeen]] = {}
    for letter in letters:
        unclaimed.setdefault(letter.original, []).append(letter)
    rows = {kind.name: KindTally(kind.name, kind.expected.value) for kind in KINDS}
    for poison in poisons:
        row = rows[poison.kind.name]
        row.sent += 1
        matching = unclaimed.get(poison.value)
        if matching:
            letter = matching.pop()
            row.dead_lettered += 1
            row.reason_codes[letter.reason_code] += 1
            row.examples.setdefault(letter.reason_code, letter.reason)
        if verdicts_of[poison.transaction_id] >= (2 if poison.kind is DUPLICATE else 1):
            row.scored += 1
    return [row for row in rows.values() if row.sent]


def _shorten(text: str) -> str:
    return text if len(text) <= _REASON_SHOWN else text[: _REASON_SHOWN - 1] + "…"


def render_kinds(rows: Sequence[KindTally]) -> str:
    """The tally as a Markdown table."""
    lines = [
        "| poison kind | sent | expected | dead-lettered | scored | reasons seen |",
        "|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        seen = [f"{code} x{count:,}: {_shorten(row.examples[code])}" for code, count in row.reason_codes.most_common()]
        reasons = ("; ".join(seen) or "none").replace("|", "\\|")
        lines.append(
            f"| {row.kind} | {row.sent:,} | {row.expected} | {row.dead_lettered:,} | {row.scored:,} | {reasons} |"
        )
    return "\n".join(lines)
