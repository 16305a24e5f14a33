"""A micro-batch: dead letters for bad input, one verdict per transaction with the online features."""

from __future__ import annotations

import json
from contextlib import aclosing
from datetime import timedelta

import pytest

from fraudcore.event_clock import EventClock
from fraudcore.features.definition import (
    DAY_MS,
    FEATURE_NAMES,
    LabelFacts,
    TxFacts,
    counts_only,
    epoch_ms,
    feature_matrix,
)
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.models import CHALLENGER, CHAMPION
from schemas.codec import encode
from schemas.enums import ReasonCode
from schemas.events import Transaction, digest_features
from schemas.examples import EXAMPLE_NOW, example_transaction
from scorer.decisions import Thresholds
from scorer.model_holder import ModelHolder
from scorer.scoring import BatchScorer, ConflictingTransactions, RawMessage, card_bucket, conflict_rejection
from tests.unit.scorer.twins import MemorySource, loaded_model

HOUR = timedelta(hours=1)


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
        counts_only(await MemoryFeatureStore().record_transactions([TxFacts.of(t) for t in transactions])),
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
    assert counts_only(await store.peek_transactions([TxFacts.of(transactions[0])]))[0].customer_count[0] == 1


async def test_a_redelivered_batch_gets_the_same_features() -> None:
    scorer, _ = await _scorer()
    # an hour apart, each in its own tile (a redelivery counts the later transactions of its tile too)
    transactions = [
        t.model_copy(update={"event_time": t.event_time + i * HOUR}) for i, t in enumerate(_transactions(3))
    ]
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
        async for chunk in chunks:
            lengths.append(len(chunk.verdicts))
            expected += chunk.verdicts.values
    assert lengths == [7]
    ahead, _ = await _scorer()
    ahead.store = _CountingAheadStore()
    values, lengths = [], []
    async with aclosing(ahead.score_chunks(transactions, 3)) as chunks:
        async for chunk in chunks:
            lengths.append(len(chunk.verdicts))
            values += chunk.verdicts.values
    assert lengths == [3, 3, 1]
    chunked, whole_batch = [json.loads(value) for value in values], [json.loads(value) for value in expected]
    for verdict in chunked:  # the model's float sums may differ in the last bits with the batch size
        verdict["score"] = pytest.approx(verdict["score"], rel=1e-12)
    for verdict in (*chunked, *whole_batch):  # a timing
        del verdict["scoring_latency_s"]
    assert chunked == whole_batch


async def test_stale_and_far_future_transactions_become_dead_letters_with_their_reasons() -> None:
    scorer, _ = await _scorer()
    honest = _transactions(50)
    base = honest[0]
    age = timedelta(milliseconds=scorer.spec.claim_horizon_ms)
    back_dated = base.model_copy(
        update={"transaction_id": "old", "event_time": base.event_time - age - timedelta(days=1)}
    )
    just_usable = base.model_copy(
        update={"transaction_id": "usable", "event_time": base.event_time - age + timedelta(hours=1)}
    )
    future = base.model_copy(update={"transaction_id": "future", "event_time": EXAMPLE_NOW + timedelta(days=2)})
    forged = [
        base.model_copy(update={"transaction_id": f"f{i}", "event_time": EXAMPLE_NOW + timedelta(hours=23)})
        for i in range(5)
    ]
    batch = [*honest, back_dated, just_usable, future, *forged]
    triage = scorer.triage([_message(encode(t), offset) for offset, t in enumerate(batch)])
    reasons = {letter.source_offset: letter.reason_code for letter in triage.dead_letters}
    assert reasons == {50: ReasonCode.STALE_EVENT_TIME, 52: ReasonCode.IMPLAUSIBLE_TIME}
    stale = next(letter for letter in triage.dead_letters if letter.source_offset == 50)
    assert stale.original_value() == encode(back_dated)
    assert "behind the stream's event-time clock" in stale.reason
    # the forged times (within the decoder's tolerance) are scored, but do not move the clock
    assert [t.transaction_id for t in triage.transactions][-6:] == ["usable", "f0", "f1", "f2", "f3", "f4"]
    assert scorer.stale(honest, observe=False) == [None] * 50


async def test_a_conflicting_duplicate_is_not_scored_on_the_stored_facts() -> None:
    scorer, store = await _scorer()
    real, other = _transactions(2)
    squatter = real.model_copy(update={"customer_id": "someone else", "amount": 1.0})
    [first] = await scorer.score([squatter])
    with pytest.raises(ConflictingTransactions) as refused:
        await scorer.score([other, real])
    [(index, conflict)] = refused.value.conflicts
    assert index == 1
    assert conflict.stored == TxFacts.of(squatter)
    assert [v.transaction_id for v in refused.value.verdicts] == [other.transaction_id]
    rejection = conflict_rejection(real, conflict)
    assert rejection.reason_code is ReasonCode.CONFLICTING_DUPLICATE
    assert "amount, customer_id" in rejection.message
    with pytest.raises(ConflictingTransactions):  # a read-only peek refuses it alike
        await scorer.score([real], record=False)
    # an exact redelivery keeps its verdict; the chunked path leaves the conflict out too
    assert (await scorer.score([squatter]))[0].score == first.score
    async with aclosing(scorer.score_chunks([real, squatter], 10)) as chunks:
        [chunk] = [chunk async for chunk in chunks]
    assert chunk.size == 2
    assert [row for row, _ in chunk.conflicts] == [0]
    assert len(chunk.verdicts) == 1
    assert counts_only(await store.peek_transactions([TxFacts.of(squatter)]))[0].customer_count[0] == 1


async def test_labels_far_ahead_of_the_event_time_clock_are_refused() -> None:
    scorer, _ = await _scorer()
    base = _transactions(1)[0]
    t = epoch_ms(base.event_time)
    label = LabelFacts("tx0", True, t + DAY_MS)  # the decoder's future tolerance ahead of the clock
    late = LabelFacts("tx0", True, t + DAY_MS + 1)
    forged = LabelFacts("tx0", False, epoch_ms(EXAMPLE_NOW.replace(year=2026)))
    assert scorer.labels_ahead([label, late, forged]) == [None] * 3  # no clock yet: the decoder's bound only
    scorer.triage([_message(encode(base), 0)])
    accepted, *refused = scorer.labels_ahead([label, late, forged])
    assert accepted is None
    assert [(r.reason_code, r.field) for r in refused if r] == [(ReasonCode.IMPLAUSIBLE_TIME, "labeled_at")] * 2


async def test_the_label_bound_allows_for_how_far_the_newest_transactions_lead_the_clock() -> None:
    scorer, _ = await _scorer()
    base = _transactions(1)[0]
    # four days of steady traffic up to the wall clock: the median clock lags the newest transaction by two days
    days = [
        base.model_copy(update={"transaction_id": f"d{i}", "event_time": base.event_time - timedelta(hours=96 - i)})
        for i in range(97)
    ]
    scorer.triage([_message(encode(t), offset) for offset, t in enumerate(days)])
    newest = epoch_ms(days[-1].event_time)
    assert scorer.event_clock.now_ms == newest - 2 * DAY_MS
    on_time, forged = LabelFacts("d96", True, newest + DAY_MS), LabelFacts("d96", False, newest + 2 * DAY_MS)
    assert scorer.labels_ahead([on_time])[0] is None
    assert scorer.labels_ahead([forged])[0] is not None


async def test_honest_traffic_brings_the_clock_back_after_a_forged_majority() -> None:
    scorer, _ = await _scorer()
    scorer.event_clock = EventClock(window=20)
    replay = timedelta(days=90)  # the honest stream replays history 90 days behind the wall clock
    honest = [t.model_copy(update={"event_time": t.event_time - replay}) for t in _transactions(60)]

    def triage(batch: list[Transaction]) -> set[ReasonCode]:
        result = scorer.triage([_message(encode(t), offset) for offset, t in enumerate(batch)])
        return {letter.reason_code for letter in result.dead_letters}

    assert triage(honest[:20]) == set()
    forged = [  # within the decoder's tolerance of the wall clock: a majority of the clock's window
        honest[0].model_copy(update={"transaction_id": f"forged{i}", "event_time": honest[0].event_time + replay})
        for i in range(20)
    ]
    assert triage(forged) == set()
    assert triage(honest[20:30]) == {ReasonCode.STALE_EVENT_TIME}  # the forged majority made them look stale
    assert triage(honest[30:45]) == set()  # ...until honest traffic is the majority again


async def test_a_transaction_forged_years_ahead_prunes_no_history_of_its_card() -> None:
    scorer, _ = await _scorer()
    card = [  # two months behind the wall clock: a replay
        t.model_copy(update={"customer_id": "victim", "terminal_id": "m", "event_time": t.event_time - 60 * DAY})
        for t in _transactions(7)
    ]
    honest, after = card[:6], card[6]
    # within the decoder's tolerance of the wall clock, two months ahead of the stream
    forged = honest[0].model_copy(update={"transaction_id": "forged", "event_time": EXAMPLE_NOW + timedelta(hours=23)})
    for transaction in (*honest, forged):
        assert scorer.triage([_message(encode(transaction), 0)]).transactions == [transaction]
        await scorer.score([transaction])
    scorer.triage([_message(encode(after), 0)])
    [verdict] = await scorer.score([after])
    assert verdict.features["customer_nb_tx_30d"] == 7
    assert verdict.features["customer_nb_tx_1d"] == 7


DAY = timedelta(days=1)
