"""Scenario: poison inputs mixed into a steady load of valid transactions.

After every ``every``-th valid transaction one poison input of :mod:`chaos.poison_catalogue` is sent
(the kinds take turns). Every valid transaction, and every poison input the contract accepts, must
get a verdict; every other poison input must be in the dead-letter topic, its original bytes intact,
with a reason. A poison input counts as a fault: its recovery is from its (scheduled) send time to the
next verdict appended, so a scorer stuck on one shows (only those sent once the worker scored: the
earlier ones wait for its start-up); and from it to the verdict of the transaction sent right after it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.kafka_io import read_records
from bench.lanes import Lane
from bench.workload import Record
from chaos.audit import VerdictSeen
from chaos.harness import Live, Load, ScenarioResult, chaos_lane, run_under_load
from chaos.poison_catalogue import DUPLICATE
from chaos.poison_stream import KINDS, PoisonedStream, mix_poison
from chaos.poison_tally import LetterSeen, render_kinds, tally
from fraudcore.settings import Settings
from schemas.codec import Decoded, decode_dead_letter
from scorer.scoring import utc_now

__all__ = ["run_poison"]


def run_poison(base: Settings, load: Load, every: int, say: Callable[[str], None]) -> ScenarioResult:
    """Run the scenario against the services ``base`` names; removes what it created."""
    mixed: list[PoisonedStream] = []
    scoring_ms: list[int] = []

    def mix(records: list[Record]) -> tuple[list[Record], set[str]]:
        stream = mix_poison(records, every, load.seed)
        mixed.append(stream)
        say(f"{len(stream.poisons):,} poison inputs mixed in, one after every {every} transactions")
        return stream.sent, stream.expected

    def inject(live: Live) -> None:
        live.workers.wait_scoring()
        scoring_ms.append(int(time.time() * 1000))

    with chaos_lane(base, "poison", load) as (lane, scratch):
        outcome = run_under_load(lane, scratch, load, say, inject, mix=mix)
        letters, unreadable = _read_dead_letters(lane)
    stream = mixed[0]
    rows = tally(stream.poisons, outcome.verdicts, letters)
    duplicates = [poison.transaction_id for poison in stream.poisons if poison.kind is DUPLICATE]
    figures = {
        "poison inputs sent (kinds taking turns)": f"{len(stream.poisons):,} of {len(KINDS)} kinds",
        "dead letters read": f"{len(letters) + unreadable:,} ({unreadable:,} not readable as dead letters)",
        "resent transaction ids: verdicts (features differ)": (
            f"{sum(verdict.transaction_id in duplicates for verdict in outcome.verdicts):,}"
            f" for {len(duplicates):,} ids ({_differing(outcome.verdicts, set(duplicates)):,})"
        ),
    }
    sent_ms = [outcome.began_ms + round(poison.position * 1000 / load.rate) for poison in stream.poisons]
    fault_ends = [at for at in sent_ms if at >= scoring_ms[0]]
    following = _to_next_verdict(stream, outcome.verdicts, sent_ms, scoring_ms[0])
    figures["poison input → verdict of the transaction sent after it"] = (
        f"median {statistics.median(following):.2f} s, max {max(following):.2f} s" if following else "none"
    )
    return outcome.result(
        f"one poison input after every {every} transactions",
        load,
        len(fault_ends),
        fault_ends,
        figures,
        invalid_values=stream.invalid_values,
        dead_letters={letter.original: letter.reason for letter in letters if letter.original is not None},
        tables=[render_kinds(rows)],
    )


def _to_next_verdict(
    stream: PoisonedStream, verdicts: list[VerdictSeen], sent_ms: list[int], from_ms: int
) -> list[float]:
    """Per poison input sent from ``from_ms``: seconds from its send to the first verdict of the next input."""
    first: dict[str, int] = {}
    for verdict in verdicts:
        first[verdict.transaction_id] = min(verdict.appended_ms, first.get(verdict.transaction_id, verdict.appended_ms))
    seconds = []
    for poison, at_ms in zip(stream.poisons, sent_ms, strict=True):
        after = stream.sent[poison.position + 1].transaction_id  # a valid one: none ends the stream
        if at_ms >= from_ms and after in first:
            seconds.append((first[after] - at_ms) / 1000)
    return seconds


def _differing(verdicts: list[VerdictSeen], ids: set[str]) -> int:
    """How many of ``ids`` have verdicts with different features."""
    digests: dict[str, set[str]] = {}
    for verdict in verdicts:
        if verdict.transaction_id in ids:
            digests.setdefault(verdict.transaction_id, set()).add(verdict.feature_digest)
    return sum(len(seen) > 1 for seen in digests.values())


def _read_dead_letters(lane: Lane) -> tuple[list[LetterSeen], int]:
    """The lane's dead letters, and how many records of its dead-letter topic are not dead letters."""
    letters: list[LetterSeen] = []
    unreadable = 0
    now = utc_now()

    def visit(record: Any) -> None:
        nonlocal unreadable
        decoded = decode_dead_letter(record.value, now=now)
        if isinstance(decoded, Decoded):
            letter = decoded.event
            letters.append(LetterSeen(letter.original_value(), letter.reason_code.value, letter.reason))
        else:
            unreadable += 1

    asyncio.run(read_records(lane.settings, lane.topics.dead_letters, visit))
    return letters, unreadable
