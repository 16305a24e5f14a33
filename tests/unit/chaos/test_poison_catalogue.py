"""The poison catalogue: every kind is what it claims to be under the product's own decoder."""

from __future__ import annotations

import json
import random

import pytest

from chaos.poison_catalogue import CATALOGUE, DUPLICATE, ENORMOUS_BYTES, Expected, PoisonKind
from schemas.codec import Decoded, decode_transaction, encode
from schemas.events import DEFAULT_MAX_BYTES
from schemas.examples import EXAMPLE_NOW, example_transaction

_BROKER_DEFAULT_RECORD_BYTES = 1_048_588
"""Kafka's default ``message.max.bytes``."""


def _document(transaction_id: str = "poison-000001") -> dict[str, object]:
    document: dict[str, object] = json.loads(encode(example_transaction()))
    return document | {"transaction_id": transaction_id}


@pytest.mark.parametrize("kind", [*CATALOGUE, DUPLICATE], ids=lambda kind: kind.name)
def test_each_kind_is_refused_or_accepted_by_the_decoder_as_it_expects(kind: PoisonKind) -> None:
    for seed in range(5):
        result = decode_transaction(kind.make(_document(), random.Random(seed)), now=EXAMPLE_NOW)
        if kind.expected is Expected.SCORED:
            assert isinstance(result, Decoded), result
            assert result.event.transaction_id == "poison-000001"
        else:
            assert not isinstance(result, Decoded)
            assert result.message.strip()


def test_the_kinds_cover_every_reason_code_the_scorer_dead_letters_for_transactions() -> None:
    codes = {
        result.reason_code.value
        for kind in CATALOGUE
        if not isinstance(
            result := decode_transaction(kind.make(_document(), random.Random(0)), now=EXAMPLE_NOW), Decoded
        )
    }
    assert codes == {
        "empty",
        "too_large",
        "not_utf8",
        "invalid_json",
        "unknown_schema_version",
        "missing_field",
        "wrong_type",
        "non_finite",
        "out_of_range",
        "invalid_format",
        "implausible_time",
    }


def test_the_enormous_value_is_over_the_contract_and_under_the_brokers_default_record_limit() -> None:
    value = next(kind for kind in CATALOGUE if kind.name.startswith("enormous")).make(_document(), random.Random(0))
    assert len(value) == ENORMOUS_BYTES
    assert DEFAULT_MAX_BYTES < len(value) < _BROKER_DEFAULT_RECORD_BYTES - 1_000


def test_bytes_depend_only_on_the_document_and_the_seed() -> None:
    for kind in CATALOGUE:
        assert kind.make(_document(), random.Random(7)) == kind.make(_document(), random.Random(7))


def test_inputs_made_from_different_transactions_differ_except_the_empty_value() -> None:
    for kind in CATALOGUE:
        first = kind.make(_document("poison-000001"), random.Random(0))
        second = kind.make(_document("poison-000002"), random.Random(0))
        assert (first == second) == (kind.name == "empty value"), kind.name
