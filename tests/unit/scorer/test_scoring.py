"""A micro-batch: dead letters for bad input, one verdict per transaction with the online features."""

from __future__ import annotations

import json
from contextlib import aclosing
from datetime import timedelta

import pytest

from fraudcore.features.definition import FEATURE_NAMES, TxFacts, feature_matrix
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.models import CHALLENGER, CHAMPION
from schemas.codec import encode
from schemas.enums import ReasonCode
from schemas.events import Transaction, digest_features
from schemas.examples import EXAMPLE_NOW, example_transaction
from scorer.decisions import Thresholds
from scorer.model_holder import ModelHolder
from scorer.scoring import BatchScorer, RawMessage, card_bucket
from tests.unit.scorer.twins import MemorySource, loaded_model


def _transactions(count: int) -> list[Transaction]:
    base = example_transaction()
    return [
        base.model_copy(
            update={
                "transaction_id": f"tx{i}",
                "event_time": base.event_time + timedelta(minutes=i),
                "amount": 10.0 + 50 * i,
            }
        )
        for i in range(count)
    ]


async def _scorer(shadow: bool = False, canary: float = 0.0) -> tuple[BatchScorer, MemoryFeatureStore]:
    source = MemorySource()
    source.versions = {"1": loaded_model("1"), "2": loaded_model("2", seed=3)}
    source.aliases = {CHAMPION: "1", CHALLENGER: "2"}
    holder = ModelHolder(source, hold_challenger=shadow or canary > 0)
    await holder.start()
    store = MemoryFeatureStore()
    return BatchScorer(store, holder, Thresholds(), clock=lambda: EXAMPLE_NOW, canary_share=canary), store


def _message(value: bytes | None, offset: int) -> RawMessage:
    return RawMessage(b"596", value, "transactions", 2, offset, headers=(("trace", b"x"),))


async def test_invalid_messages_become_dead_letters_with_their_origin_and_bytes() -> None:
    scorer, _ = await _scorer()
    good = encode(_transactions(1)[0])
    triage = scorer.triage([_message(good, 10), _message(b"{oops", 11), _message(None, 12)])
    assert [t.transaction_id for t in triage.transactions] == ["tx0"]
    first, second = triage.dead_letters
    assert first.original_value() == b"{oops"
    assert first.reason_code is ReasonCode.INVALID_JSON
    assert (first.source_topic, first.source_partition, first.source_offset) == ("transactions", 2, 11)
    assert first.original_key() == b"596"
    assert first.original_headers() == [("trace", b"x")]
    assert second.original_value() is None
    assert second.reason_code is ReasonCode.EMPTY


async def test_every_transaction_gets_a_verdict_with_the_store_features_and_the_model_version() -> None:
    scorer, _ = await _scorer()
    transactions = _transactions(6)
    verdicts = await scorer.score(transactions)
    expected = feature_matrix(
        [TxFacts.of(t) for t in transactions],
        await MemoryFeatureStore().record_transactions([TxFacts.of(t) for t in transactions]),
    )
    assert [v.transaction_id for v in verdicts] == [t.transaction_id for t in transactions]
    for row, verdict in enumerate(verdicts):
        assert verdict.model_version == "1"
        assert [verdict.features[name] for name in FEATURE_NAMES] == expected[row].tolist()
        assert verdict.feature_digest == digest_features(verdict.features)
        assert 0.0 <= verdict.score <= 1.0
        assert verdict.shadow_score is None
    assert verdicts[-1].features["customer_nb_tx_1d"] == 6  # in-batch order counts
    assert verdicts[-1].score > verdicts[0].score  # the toy model flags large amounts
    assert verdicts[-1].reasons
    assert set(verdicts[-1].reasons) <= set(FEATURE_NAMES)
    assert set(scorer.stage_seconds) == {"features", "model", "verdicts"}


async def test_reading_without_recording_changes_nothing() -> None:
    scorer, store = await _scorer()
    transactions = _transactions(2)
    first = await scorer.score(transactions, record=False)
    second = await scorer.score(transactions, record=False)
    assert [v.features for v in first] == [v.features for v in second]
    assert (await store.peek_transactions([TxFacts.of(transactions[0])]))[0].customer_count[0] == 1


async def test_a_redelivered_batch_gets_the_same_features() -> None:
    scorer, _ = await _scorer()
    transactions = _transactions(3)
    first = await scorer.score(transactions)
    again = await scorer.score(transactions)
    assert [v.features for v in first] == [v.features for v in again]


async def test_shadow_scoring_records_the_challenger_without_deciding_with_it() -> None:
    scorer, _ = await _scorer(shadow=True)
    verdicts = await scorer.score(_transactions(3))
    assert all(v.shadow_model_version == "2" for v in verdicts)
    assert all(v.shadow_score is not None for v in verdicts)
    assert all(v.model_version == "1" for v in verdicts)


async def test_a_canary_lets_the_challenger_decide_for_a_stable_share_of_cards() -> None:
    scorer, _ = await _scorer(canary=0.3)
    base = _transactions(1)[0]
    transactions = [
        base.model_copy(update={"transaction_id": f"t{i}", "customer_id": f"card{i}", "amount": 5.0 + i})
        for i in range(400)
    ]
    verdicts = await scorer.score(transactions)
    canary = [card_bucket(t.customer_id) < 0.3 for t in transactions]
    assert 0.2 < sum(canary) / len(canary) < 0.4
    for verdict, in_canary in zip(verdicts, canary, strict=True):
        assert verdict.model_version == ("2" if in_canary else "1")
        assert verdict.shadow_model_version == ("1" if in_canary else "2")
    again = await scorer.score(transactions)  # stable: the same cards stay in the canary
    assert [v.model_version for v in again] == [v.model_version for v in verdicts]


class _CountingAheadStore(MemoryFeatureStore):
    """The memory store, claiming to count ahead (as standalone Redis does): the scorer then splits."""

    @property
    def counts_ahead(self) -> bool:
        return True


async def test_chunks_split_a_batch_only_for_a_store_that_counts_ahead() -> None:
    """The verdicts are those of one whole batch either way (scores up to rounding); a store that
    cannot count ahead gets the batch in one chunk (splitting would only add per-chunk costs)."""
    transactions = _transactions(7)
    plain, _ = await _scorer()
    lengths: list[int] = []
    expected: list[bytes] = []
    async with aclosing(plain.score_chunks(transactions, 3)) as chunks:
        async for encoded in chunks:
            lengths.append(len(encoded))
            expected += encoded.values
    assert lengths == [7]
    ahead, _ = await _scorer()
    ahead.store = _CountingAheadStore()
    values, lengths = [], []
    async with aclosing(ahead.score_chunks(transactions, 3)) as chunks:
        async for encoded in chunks:
            lengths.append(len(encoded))
            values += encoded.values
    assert lengths == [3, 3, 1]
    chunked, whole_batch = [json.loads(value) for value in values], [json.loads(value) for value in expected]
    for verdict in chunked:  # the model's float sums may differ in the last bits with the batch size
        verdict["score"] = pytest.approx(verdict["score"], rel=1e-12)
    for verdict in (*chunked, *whole_batch):  # a timing
        del verdict["scoring_latency_s"]
    assert chunked == whole_batch
