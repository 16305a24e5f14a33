"""Mixing poison inputs into the valid transactions: where, which kinds, what must be scored."""

from __future__ import annotations

import pytest

from bench.workload import Record
from chaos.poison_catalogue import DUPLICATE, Expected
from chaos.poison_stream import KINDS, mix_poison
from schemas.codec import Decoded, decode_transaction, encode
from schemas.events import Transaction
from schemas.examples import EXAMPLE_NOW, example_transaction


def _records(count: int) -> list[Record]:
    records = []
    for n in range(count):
        transaction = example_transaction().model_copy(update={"transaction_id": f"tx-{n:05d}"})
        records.append(Record(b"596", encode(transaction), transaction.transaction_id))
    return records


def test_one_poison_input_follows_every_nth_transaction_outside_the_last_tenth() -> None:
    records = _records(1_000)
    stream = mix_poison(records, 10, seed=0)
    assert len(stream.poisons) == 90  # after transactions 10, 20, ..., 900: none in the last 100
    assert len(stream.sent) == 1_090
    positions = {poison.position for poison in stream.poisons}
    assert [record for n, record in enumerate(stream.sent) if n not in positions] == records
    for poison in stream.poisons:
        assert stream.sent[poison.position].value == poison.value
    assert [poison.kind for poison in stream.poisons[: len(KINDS)]] == list(KINDS)


def test_the_inputs_to_score_are_expected_and_the_others_are_the_invalid_values() -> None:
    records = _records(2_000)
    stream = mix_poison(records, 5, seed=3)
    accepted = {p.transaction_id for p in stream.poisons if p.kind.expected is Expected.SCORED}
    assert stream.expected == {record.transaction_id for record in records} | accepted
    assert stream.invalid_values == {p.value for p in stream.poisons if p.kind.expected is Expected.DEAD_LETTERED}
    for poison in stream.poisons:
        decoded = decode_transaction(poison.value, now=EXAMPLE_NOW)
        assert isinstance(decoded, Decoded) == (poison.kind.expected is Expected.SCORED), poison.kind.name


def test_the_duplicate_resends_an_earlier_valid_transaction_unchanged() -> None:
    records = _records(500)
    stream = mix_poison(records, 4, seed=0)
    duplicates = [poison for poison in stream.poisons if poison.kind is DUPLICATE]
    assert duplicates
    by_id = {record.transaction_id: record for record in records}
    for poison in duplicates:
        original = by_id[poison.transaction_id]
        assert stream.sent.index(original) < poison.position
        assert Transaction.model_validate_json(poison.value) == Transaction.model_validate_json(original.value)


def test_the_mix_is_deterministic_from_its_seed() -> None:
    records = _records(300)
    assert mix_poison(records, 3, seed=1).sent == mix_poison(records, 3, seed=1).sent


def test_poison_after_every_transaction_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        mix_poison(_records(10), 1, seed=0)
