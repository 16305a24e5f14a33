"""The pure parts of the Redis feature store: slot buckets, call grouping, encoding and decoding."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from fraudcore.features.buckets import BUCKETS, bucket_of, bucket_tag
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, Conflict, LabelFacts, LabelOutcome, TxFacts
from fraudcore.features.redis_calls import (
    Claim,
    KeyLayout,
    LabelJoin,
    ScriptCall,
    apply_calls,
    claim_calls,
    customer_calls,
    group_rows,
    label_claim_calls,
    read_applied,
    read_claims,
    read_counts,
    read_label_claims,
    terminal_calls,
)
from fraudcore.features.scripts import RECORD_CUSTOMERS

T = 1_600_000_000_000
LAYOUT = KeyLayout("ns")
BATCH = [TxFacts(f"tx{i}|{{x}}", f"card {{{i % 37}}}", f"term:{i % 53}", T + i, i) for i in range(400)]
LABELS = [LabelFacts(f"tx{i}|{{x}}", i % 3 == 0, T + i) for i in range(0, 400, 2)]


def _claims(new: bool) -> list[Claim]:
    return [
        Claim(new, tx.transaction_id.encode(), tx.customer_id.encode(), tx.terminal_id.encode(), tx.event_time_ms, 1)
        for tx in BATCH
    ]


def _all_calls(per_bucket: bool) -> list[ScriptCall]:
    joins = [LabelJoin(i, b"id%d" % i, b"term %d" % i, T, b"1|%d" % T) for i in range(200)]
    return [
        *claim_calls(LAYOUT, BATCH, DEFAULT_SPEC, record=True, per_bucket=per_bucket),
        *customer_calls(LAYOUT, _claims(True), DEFAULT_SPEC, record=True, per_bucket=per_bucket),
        *terminal_calls(LAYOUT, _claims(False), DEFAULT_SPEC, record=False, per_bucket=per_bucket),
        *label_claim_calls(LAYOUT, LABELS, DEFAULT_SPEC, per_bucket=per_bucket),
        *apply_calls(LAYOUT, joins, DEFAULT_SPEC, per_bucket=per_bucket),
    ]


def test_every_call_per_bucket_stays_in_one_slot() -> None:
    calls = _all_calls(per_bucket=True)
    assert len(calls) > 5 * 30  # most buckets present in each phase
    for call in calls:
        assert call.keys
        assert len({key_slot(key) for key in call.keys}) == 1, call.script.name


def test_merged_calls_span_many_slots_one_call_per_phase() -> None:
    calls = _all_calls(per_bucket=False)
    assert [call.script.name for call in calls] == [
        "claim_transactions.lua",
        "record_customers.lua",
        "record_terminals.lua",
        "claim_labels.lua",
        "apply_labels.lua",
    ]
    assert len({key_slot(key) for key in calls[0].keys}) > BUCKETS // 2


def test_buckets_are_spread_evenly_over_the_slots() -> None:
    slots = [key_slot(bucket_tag(b)) for b in range(BUCKETS)]
    width = REDIS_CLUSTER_HASH_SLOTS / BUCKETS
    assert all(b * width - 1 < slot < (b + 1) * width for b, slot in enumerate(slots))
    masters = Counter(slot * 3 // REDIS_CLUSTER_HASH_SLOTS for slot in slots)
    assert max(masters.values()) - min(masters.values()) <= 1
    ids = Counter(bucket_of(b"card %d" % i) for i in range(10_000))
    assert len(ids) == BUCKETS
    assert max(ids.values()) < 2 * min(ids.values())


def test_keys_carry_the_tag_of_their_id_first() -> None:
    key = LAYOUT.key(b"csums", b"a{b}c")
    assert key == b"ns:csums:" + bucket_tag(bucket_of(b"a{b}c")) + b":a{b}c"
    assert key_slot(key) == key_slot(LAYOUT.key(b"tsums", b"a{b}c")) == key_slot(bucket_tag(bucket_of(b"a{b}c")))
    with pytest.raises(ValueError, match="free of"):
        KeyLayout("a{b")


def test_groups_keep_batch_order() -> None:
    ids = [b"a", b"b", b"a", b"c", b"b", b"a"]
    groups = group_rows(ids, per_bucket=True)
    assert sorted(row for rows in groups for row in rows) == list(range(6))
    for rows in groups:
        assert list(rows) == sorted(rows)
        assert len({bucket_of(ids[row]) for row in rows}) == 1
    assert group_rows(ids, per_bucket=False) == [(0, 1, 2, 3, 4, 5)]
    assert group_rows([], per_bucket=False) == []


def test_a_redelivery_takes_the_label_and_other_facts_are_a_conflict() -> None:
    batch = [
        TxFacts("a", "new customer", "new terminal", T, 3),
        TxFacts("b", "c", "m", T, 4),
        TxFacts("c", "c", "m", T, 4),
    ]
    [call] = claim_calls(LAYOUT, batch, DEFAULT_SPEC, record=True, per_bucket=False, clock_ms=T)
    assert call.args[:4] == (b"1", DEFAULT_SPEC.key_ttl_s, DEFAULT_SPEC.claim_horizon_ms, b"%d" % T)
    assert call.args[5:7] == (b"a", b"%d|3|12|new customernew terminal" % T)
    assert call.args[8:10] == (b"b", b"%d|4|1|cm" % T)
    k = call.args[4]
    assert isinstance(k, int)
    assert call.keys[k - 1 : k + 2] == (
        LAYOUT.bucket_key(b"cday", b"a"),
        LAYOUT.bucket_key(b"hold", b"a"),
        LAYOUT.bucket_key(b"claims", b"a"),
    )
    stored = b"%d|9|4|a|b:x|y" % (T - 5)
    replies = [[stored, b"1|77", b"", b"0|5", b"%d|4|1|cm" % T, b"1|78", b"3"]]
    (first, second, third), expired = read_claims(batch, [call], replies)
    assert expired == 3
    assert first == Conflict(TxFacts("a", "a|b:", "x|y", T - 5, 9))
    assert second == Claim(True, b"b", b"c", b"m", T, 4, b"0|5")
    assert third == Claim(False, b"c", b"c", b"m", T, 4, b"1|78")
    [stale], _ = read_claims(batch[2:], [replace(call, rows=(0,))], [[b"%d|4|1|cm" % T, b"s", b"0"]])
    assert stale == Claim(False, b"c", b"c", b"m", T, 4, stale=True)
    assert stale.flag == b"s"


def test_out_of_range_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="amount_cents must be within"):
        claim_calls(LAYOUT, [TxFacts("a", "c", "m", T, -1)], DEFAULT_SPEC, record=True, per_bucket=False)


def test_customer_and_terminal_rows_index_their_keys() -> None:
    claims = [Claim(True, b"t1", b"c", b"m", T, 10), Claim(False, b"t,2", b"c", b"m", T + 1, 20, b"1|99")]
    [customers] = customer_calls(LAYOUT, claims, DEFAULT_SPEC, record=True, per_bucket=False)
    assert customers.keys == (LAYOUT.key(b"csums", b"c"), LAYOUT.bucket_key(b"cmark", b"c"))
    assert customers.args[-1] == b"1,2,1,%d,10,2,t11,2,0,%d,20,3,t,2" % (T, T + 1)
    [terminals] = terminal_calls(LAYOUT, claims, DEFAULT_SPEC, record=False, per_bucket=False)
    assert terminals.keys == (
        LAYOUT.key(b"tsums", b"m"),
        LAYOUT.key(b"frauds", b"m"),
        LAYOUT.bucket_key(b"tmark", b"m"),
        LAYOUT.bucket_key(b"lrec", b"m"),
    )
    assert terminals.args[0] == b"0"
    assert terminals.args[-1] == b"1,3,1,%d,,2,t11,3,0,%d,1|99,3,t,2" % (T, T + 1)


def test_counts_are_read_back_per_row() -> None:
    calls = [ScriptCall(RECORD_CUSTOMERS, (b"k",), (), rows) for rows in [(2, 0), (1,)]]
    assert read_counts(3, 2, calls, [b"1,2,3,4", "5,6"]) == [[3, 4], [5, 6], [1, 2]]
    with pytest.raises(RuntimeError, match="3 integers for 1 transactions"):
        read_counts(3, 2, calls[1:], [b"1,2,3"])


def test_labels_join_on_their_claim_or_their_own_facts() -> None:
    labels = [
        LabelFacts("x", True, T + 5),
        LabelFacts("y", False, T + 6, "own:1", T - 9 * DAY_MS),
        LabelFacts("z", True, T + 7),
        LabelFacts("b", True, T - 1),
        LabelFacts("r", True, T + 9),
    ]
    calls = label_claim_calls(LAYOUT, labels, DEFAULT_SPEC, per_bucket=False)
    assert calls[0].args[:3] == (b"1", DEFAULT_SPEC.key_ttl_s, DEFAULT_SPEC.held_labels_per_bucket)
    assert calls[0].args[3 + 4 : 3 + 8][1:] == (b"y", b"0|%d" % (T + 6), b"%d" % (T - 9 * DAY_MS))
    assert calls[0].args[3:7][1:] == (b"x", b"1|%d" % (T + 5), b"")
    replies = [[b"j", b"%d|1|1|cm:1" % T, b"o", b"", b"h", b"", b"b", b"", b"r", b""]]
    outcomes, joins = read_label_claims(labels, calls, replies)
    assert outcomes == [None, None, LabelOutcome.HELD, LabelOutcome.BEFORE_TRANSACTION, LabelOutcome.UNJOINABLE]
    assert joins == [
        LabelJoin(0, b"x", b"m:1", T, b"1|%d" % (T + 5)),
        LabelJoin(1, b"y", b"own:1", T - 9 * DAY_MS, b"0|%d" % (T + 6), own=True),
    ]
    applied = apply_calls(LAYOUT, joins, DEFAULT_SPEC, per_bucket=True, clock_ms=T)
    assert sum(len(call.rows) for call in applied) == 2
    own_call = next(call for call in applied if joins[call.rows[0]].own)
    assert own_call.keys == (
        LAYOUT.key(b"frauds", b"own:1"),
        LAYOUT.key(b"tsums", b"own:1"),
        LAYOUT.bucket_key(b"lrec", b"own:1"),
    )
    assert own_call.args[-1] == b"1,3,o,%d,0|%d,1,y" % (T - 9 * DAY_MS, T + 6)
    replies2 = [b"m" if joins[call.rows[0]].row == 1 else b"n" for call in applied]
    assert read_applied(outcomes, joins, applied, replies2) == [
        LabelOutcome.NEW,
        LabelOutcome.NO_TRANSACTION,
        LabelOutcome.HELD,
        LabelOutcome.BEFORE_TRANSACTION,
        LabelOutcome.UNJOINABLE,
    ]
