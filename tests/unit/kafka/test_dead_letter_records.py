"""The dead letter of a large input fits where it is sent: the dead-letter topic and the scorer's producer."""

from __future__ import annotations

from fraudcore.kafka_admin import DEAD_LETTER_RECORD_BYTES, project_topic_specs
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.enums import ReasonCode
from schemas.examples import EXAMPLE_NOW
from schemas.rejection import Rejected
from schemas.topics import Topics
from scorer.runtime import producer_options
from scorer.scoring import RawMessage, dead_letter_for

_BROKER_DEFAULT_RECORD_BYTES = 1_048_588
"""Kafka's default ``message.max.bytes``: the largest input a default transactions topic takes."""


def _largest_dead_letter() -> bytes:
    value = b"x" * _BROKER_DEFAULT_RECORD_BYTES
    message = RawMessage(b"k" * 128, value, "transactions", 63, 2**40)
    rejection = Rejected(ReasonCode.TOO_LARGE, None, f"the value is {len(value)} bytes, over the 65536-byte limit")
    return encode(dead_letter_for(message, rejection, EXAMPLE_NOW))


def test_the_dead_letter_of_an_input_at_the_brokers_default_limit_is_over_that_limit() -> None:
    assert len(_largest_dead_letter()) > _BROKER_DEFAULT_RECORD_BYTES  # why the defaults do not do


def test_the_dead_letter_topic_takes_records_as_large_as_a_dead_letter_and_the_others_keep_the_default() -> None:
    topics = Topics.with_prefix("p.")
    specs = {spec.name: spec for spec in project_topic_specs(topics, 3)}
    assert dict(specs[topics.dead_letters].configs) == {"max.message.bytes": str(DEAD_LETTER_RECORD_BYTES)}
    assert all(not spec.configs for name, spec in specs.items() if name != topics.dead_letters)
    assert {spec.partitions for spec in specs.values()} == {3}
    assert len(_largest_dead_letter()) + 1_024 < DEAD_LETTER_RECORD_BYTES


def test_the_scorers_producer_sends_records_as_large_as_the_dead_letter_topic_takes() -> None:
    assert producer_options(Settings())["max_request_size"] == DEAD_LETTER_RECORD_BYTES
