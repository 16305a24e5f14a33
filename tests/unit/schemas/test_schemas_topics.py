"""Topic names, prefixes and message keys."""

from __future__ import annotations

import pytest

from schemas import DeadLetter, Label, ModelEvent, ReasonCode, Topics, Transaction, Verdict, key_for
from schemas.examples import (
    EXAMPLE_NOW,
    example_label,
    example_model_event,
    example_transaction,
    example_verdict,
)

pytestmark = pytest.mark.unit


def test_default_topic_names() -> None:
    assert Topics.with_prefix().all() == ("transactions", "labels", "verdicts", "model-events", "transactions.dlq")


def test_prefix_is_applied_verbatim_to_every_topic() -> None:
    topics = Topics.with_prefix("ci-42.")
    assert topics.all() == (
        "ci-42.transactions",
        "ci-42.labels",
        "ci-42.verdicts",
        "ci-42.model-events",
        "ci-42.transactions.dlq",
    )
    assert topics.topic_for(Verdict) == "ci-42.verdicts"
    assert topics.topic_for(DeadLetter) == "ci-42.transactions.dlq"


@pytest.mark.parametrize("prefix", ["dev/", "a b.", "é.", "x" * 240])
def test_illegal_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        Topics.with_prefix(prefix)


def test_every_event_type_has_a_topic() -> None:
    topics = Topics.with_prefix()
    assert [topics.topic_for(kind) for kind in (Transaction, Label, Verdict, ModelEvent, DeadLetter)] == list(
        topics.all()
    )


def test_keys() -> None:
    assert key_for(example_transaction()) == b"596"
    assert key_for(example_label()) == b"596"
    assert key_for(example_label().model_copy(update={"customer_id": None})) is None
    assert key_for(example_verdict()) == b"tx-000001"
    assert key_for(example_model_event()) == b"fraud-scorer"


@pytest.mark.parametrize("key", [b"\xff\x00596", b"", None])
def test_dead_letters_keep_the_original_key(key: bytes | None) -> None:
    letter = DeadLetter.from_raw(
        b"{}",
        key=key,
        source_topic="transactions",
        source_partition=0,
        source_offset=0,
        reason_code=ReasonCode.MISSING_FIELD,
        reason="schema_version: Field required",
        failed_at=EXAMPLE_NOW,
    )
    assert key_for(letter) == key
