"""The per-kind outcome table: dead letters matched by bytes one for one, verdicts by transaction id."""

from __future__ import annotations

import random

from chaos.audit import VerdictSeen
from chaos.poison_catalogue import CATALOGUE, DUPLICATE, PoisonKind
from chaos.poison_stream import Poison
from chaos.poison_tally import LetterSeen, render_kinds, tally


def _kind(name: str) -> PoisonKind:
    return next(kind for kind in (*CATALOGUE, DUPLICATE) if kind.name == name)


def _verdict(transaction_id: str) -> VerdictSeen:
    return VerdictSeen(transaction_id, "1", "d", 0)


def test_each_dead_letter_counts_for_one_input_with_its_bytes() -> None:
    empty = _kind("empty value")
    poisons = [Poison(empty, b"", f"poison-{n}", n) for n in range(3)]
    rows = tally(poisons, [], [LetterSeen(b"", "empty", "the value is empty")] * 2)
    assert [(row.kind, row.sent, row.dead_lettered, row.scored) for row in rows] == [("empty value", 3, 2, 0)]
    assert rows[0].reason_codes == {"empty": 2}


def test_scored_inputs_are_counted_by_their_verdicts_and_a_duplicate_needs_a_second_one() -> None:
    unknown, duplicate = _kind("unknown fields"), DUPLICATE
    poisons = [
        Poison(unknown, unknown.make({"transaction_id": "poison-1"}, random.Random(0)), "poison-1", 1),
        Poison(unknown, unknown.make({"transaction_id": "poison-2"}, random.Random(0)), "poison-2", 2),
        Poison(duplicate, b"{}", "tx-1", 3),
        Poison(duplicate, b"{ }", "tx-2", 4),
    ]
    verdicts = [_verdict("poison-1"), _verdict("tx-1"), _verdict("tx-1"), _verdict("tx-2")]
    rows = {row.kind: row for row in tally(poisons, verdicts, [])}
    assert (rows["unknown fields"].sent, rows["unknown fields"].scored) == (2, 1)
    assert (rows[DUPLICATE.name].sent, rows[DUPLICATE.name].scored) == (2, 1)


def test_the_table_shows_each_kind_sent_with_its_reasons() -> None:
    truncated = _kind("truncated JSON")
    poisons = [Poison(truncated, b'{"a', "poison-1", 1)]
    table = render_kinds(tally(poisons, [], [LetterSeen(b'{"a', "invalid_json", "not a JSON document: " + "x" * 100)]))
    lines = table.splitlines()
    assert lines[0].startswith("| poison kind | sent | expected | dead-lettered | scored |")
    assert len(lines) == 3
    assert lines[2].startswith("| truncated JSON | 1 | dead-lettered | 1 | 0 | invalid_json x1: not a JSON document: x")
    assert lines[2].endswith("… |")
