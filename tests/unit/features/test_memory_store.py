"""The in-memory store and the offline replay, against hand-computed windows and a brute-force reference."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from fraudcore.features.buckets import bucket_of
from fraudcore.features.definition import (
    DAY_MS,
    DEFAULT_SPEC,
    Conflict,
    FeatureSpec,
    LabelFacts,
    LabelOutcome,
    TxFacts,
    WindowCounts,
    counts_only,
    feature_matrix,
)
from fraudcore.features.memory import MemoryFeatureStore, offline_features
from fraudcore.features.store import FeatureStore
from tests.unit.features.reference import Reference

T = 1_522_540_800_000 + 40 * DAY_MS  # 2018-05-11T00:00:00Z
HOUR = 3_600_000
D = DEFAULT_SPEC.label_delay_days * DAY_MS


def tx(tx_id: str, t: int, customer: str = "c", terminal: str = "m", cents: int = 100) -> TxFacts:
    return TxFacts(tx_id, customer, terminal, t, cents)


def fraud(tx_id: str, labeled_at: int) -> LabelFacts:
    return LabelFacts(tx_id, True, labeled_at)


async def test_current_transaction_counts_in_its_customer_windows() -> None:
    store = MemoryFeatureStore()
    [counts] = counts_only(await store.record_transactions([tx("a", T, cents=1234)]))
    assert counts == WindowCounts((1, 1, 1), (1234, 1234, 1234), (0, 0, 0), (0, 0, 0))


async def test_customer_window_edges() -> None:
    store = MemoryFeatureStore()
    await store.record_transactions(
        [
            tx("last-tile-out-1d", T - DAY_MS + HOUR - 1, cents=1),  # tile T - 24: outside (T - 24, T]
            tx("first-tile-in-1d", T - DAY_MS + HOUR, cents=10),
            tx("exactly-30d", T - 30 * DAY_MS + HOUR - 1, cents=1000),
            tx("other-customer", T, customer="d", cents=5000),
        ]
    )
    [counts] = counts_only(await store.record_transactions([tx("now", T, cents=100)]))
    assert counts.customer_count == (2, 3, 3)
    assert counts.customer_amount_cents == (110, 111, 111)


async def test_terminal_windows_are_shifted_by_the_label_delay() -> None:
    store = MemoryFeatureStore()
    end = T - D
    await store.record_transactions(
        [
            tx("at-end", end + HOUR - 1, customer="x"),  # tile T - D: inside the tiles (T - D - w, T - D]
            tx("after-end", end + HOUR, customer="x"),  # not yet in any terminal window
            tx("1d-edge", end - DAY_MS + HOUR - 1, customer="x"),  # outside the 1-day window, inside 7
            tx("inside-1d", end - DAY_MS + HOUR, customer="x"),
            tx("7d-edge", end - 7 * DAY_MS + HOUR - 1, customer="x"),
            tx("other-terminal", end, terminal="n", customer="x"),
        ]
    )
    [counts] = counts_only(await store.record_transactions([tx("now", T)]))
    assert counts.terminal_count == (2, 3, 4)
    assert counts.terminal_fraud == (0, 0, 0)


async def test_only_labels_known_at_scoring_time_count() -> None:
    store = MemoryFeatureStore()
    await store.record_transactions([tx(f"old{i}", T - D - i * HOUR, customer="x") for i in range(4)])
    new = await store.record_labels(
        [
            fraud("old0", T),  # known exactly at t: counts
            fraud("old1", T + 1),  # known after t: does not count
            LabelFacts("old2", False, T - DAY_MS),  # genuine
            fraud("old3", T - D),
        ]
    )
    assert new == [LabelOutcome.NEW] * 4
    [counts] = counts_only(await store.record_transactions([tx("now", T)]))
    assert counts.terminal_count == (4, 4, 4)
    assert counts.terminal_fraud == (2, 2, 2)
    [later] = counts_only(await store.record_transactions([tx("later", T + 1, customer="y")]))
    assert later.terminal_fraud == (3, 3, 3)


async def test_label_before_or_after_the_transaction_gives_the_same_counts() -> None:
    label = fraud("old", T - DAY_MS)
    before, after = MemoryFeatureStore(), MemoryFeatureStore()
    await before.record_labels([label])
    await before.record_transactions([tx("old", T - D - HOUR, customer="x")])
    await after.record_transactions([tx("old", T - D - HOUR, customer="x")])
    await after.record_labels([label])
    now = [tx("now", T)]
    assert await before.record_transactions(now) == await after.record_transactions(now)
    assert _risk((await before.peek_transactions(now))[0]) == (1, 1, 1)


def _risk(counts: WindowCounts | Conflict) -> tuple[int, ...]:
    assert isinstance(counts, WindowCounts)
    return counts.terminal_fraud


async def test_the_label_with_the_latest_labeled_at_wins() -> None:
    store = MemoryFeatureStore()
    await store.record_transactions([tx("old", T - D - HOUR, customer="x")])
    genuine, chargeback = LabelFacts("old", False, T - 3 * DAY_MS), fraud("old", T - DAY_MS)
    # a genuine label over no fraud one stores nothing: its redelivery is new again
    assert await store.record_labels([genuine, genuine]) == [LabelOutcome.NEW, LabelOutcome.NEW]
    assert _risk((await store.peek_transactions([tx("now", T)]))[0]) == (0, 0, 0)
    # the chargeback: the terminal's risk follows, from its labeled_at
    assert await store.record_labels([chargeback]) == [LabelOutcome.NEW]
    assert _risk((await store.peek_transactions([tx("now", T)]))[0]) == (1, 1, 1)
    assert _risk((await store.peek_transactions([tx("now", T - DAY_MS - 1)]))[0]) == (0, 0, 0)
    # an older label arriving late, a redelivery, a genuine one at the same labeled_at: no change
    older = [fraud("old", T - 2 * DAY_MS), chargeback, LabelFacts("old", False, T - DAY_MS)]
    assert await store.record_labels(older) == [LabelOutcome.UNCHANGED] * 3
    # a later "genuine" (the chargeback reversed) takes it out of the fraud set again
    assert await store.record_labels([LabelFacts("old", False, T)]) == [LabelOutcome.CORRECTED]
    assert _risk((await store.record_transactions([tx("now", T)]))[0]) == (0, 0, 0)


async def test_labels_before_their_transaction_are_refused() -> None:
    store = MemoryFeatureStore()
    await store.record_transactions([tx("a", T - D - HOUR, customer="x")])
    assert await store.record_labels([fraud("a", T - D - HOUR - 1)]) == [LabelOutcome.BEFORE_TRANSACTION]
    # held before its transaction arrived, then found dated before it: dropped
    assert await store.record_labels([fraud("b", T - D - 2 * HOUR)]) == [LabelOutcome.HELD]
    await store.peek_transactions([tx("b", T - D - HOUR, customer="y")])
    assert store.held_labels_dropped == 0  # a peek drops nothing
    await store.record_transactions([tx("b", T - D - HOUR, customer="y")])
    assert store.held_labels_dropped == 1
    assert _risk((await store.record_transactions([tx("now", T)]))[0]) == (0, 0, 0)
    # at its transaction's event time exactly: accepted
    assert await store.record_labels([fraud("a", T - D - HOUR)]) == [LabelOutcome.NEW]


async def test_held_labels_are_bounded_per_bucket() -> None:
    store = MemoryFeatureStore(FeatureSpec(held_labels_per_bucket=2))
    ids = [f"forged{i}" for i in range(200)]
    outcomes = await store.record_labels([fraud(tx_id, T) for tx_id in ids])
    held = [tx_id for tx_id, outcome in zip(ids, outcomes, strict=True) if outcome is LabelOutcome.HELD]
    per_bucket = Counter(bucket_of(tx_id.encode()) for tx_id in ids)
    assert len(held) == sum(min(2, count) for count in per_bucket.values()) < len(ids)
    assert set(outcomes) == {LabelOutcome.HELD, LabelOutcome.UNKNOWN_TRANSACTION}
    # a held one still updates; a recorded transaction frees its place (in a running stream, for a
    # label carrying its transaction's terminal and time)
    assert await store.record_labels([fraud(held[0], T + 1)]) == [LabelOutcome.HELD]
    await store.record_transactions([tx(held[0], T - HOUR)])
    refused = next(
        tx_id for tx_id in ids if bucket_of(tx_id.encode()) == bucket_of(held[0].encode()) and tx_id not in held
    )
    assert await store.record_labels([fraud(refused, T)]) == [LabelOutcome.UNJOINABLE]
    assert await store.record_labels([LabelFacts(refused, True, T, "m", T - HOUR)]) == [LabelOutcome.HELD]


HELD_SPEC = FeatureSpec(allowed_lateness_days=1)


async def held_labels_scenario(store: FeatureStore) -> tuple[list[LabelOutcome], list[int]]:
    """Labels of one bucket before and after its first transaction, then the claim floor moving two
    days on: the labels' outcomes, and ``held_labels_dropped`` after each step."""
    same = [f"s{i}" for i in range(2_000) if bucket_of(f"s{i}".encode()) == bucket_of(b"s0")][:7]
    outcomes, dropped = [], []
    early = [fraud(same[0], T), LabelFacts(same[1], True, T + DAY_MS + 2 * HOUR, "m", T + DAY_MS + HOUR)]
    outcomes += await store.record_labels(early)
    await store.record_transactions([tx(same[2], T)], clock_ms=T)
    labels = [
        fraud(same[3], T + HOUR),  # no claim, no time: refused
        LabelFacts(same[4], True, T + HOUR, "m", T),  # held: its transaction may still come
        LabelFacts(same[5], True, T + HOUR, "m", T - 2 * DAY_MS),  # past the claim horizon: joins on its facts
    ]
    outcomes += await store.record_labels(labels, clock_ms=T)
    dropped.append(store.held_labels_dropped)
    later = T + 2 * DAY_MS
    await store.peek_transactions([tx(same[6], later)], clock_ms=later)
    dropped.append(store.held_labels_dropped)
    await store.record_transactions([tx(same[6], later)], clock_ms=later)
    dropped.append(store.held_labels_dropped)
    await store.record_transactions([tx(same[1], T + DAY_MS + HOUR)], clock_ms=later)
    outcomes += await store.record_labels([early[1], fraud(same[0], later)], clock_ms=later)
    return outcomes, dropped


async def test_a_label_without_claim_nor_transaction_time_is_refused_in_a_running_stream() -> None:
    """Before any transaction of its bucket a label is held; once the bucket has a claim floor, one
    carrying no transaction time that finds no claim is refused at once (its transaction is unknown,
    or past the claim horizon), while one carrying a time within the horizon is held; held labels
    whose transaction could no longer be claimed are dropped as the floor moves on (not by a peek)."""
    outcomes, dropped = await held_labels_scenario(MemoryFeatureStore(HELD_SPEC))
    assert outcomes == [
        *[LabelOutcome.HELD] * 2,
        LabelOutcome.UNJOINABLE,
        LabelOutcome.HELD,
        LabelOutcome.NO_TRANSACTION,
        LabelOutcome.UNCHANGED,  # the held one, applied when its transaction came
        LabelOutcome.UNJOINABLE,
    ]
    assert dropped == [0, 0, 2]  # same[0] (labelled at T) and same[4] (its transaction at T)


async def test_recording_a_transaction_again_changes_nothing() -> None:
    store = MemoryFeatureStore()
    first = await store.record_transactions([tx("a", T, cents=300)])
    assert await store.record_transactions([tx("a", T, cents=300)]) == first
    # the same id with other content: a conflict, recorded nowhere
    squatter = tx("a", T + HOUR, customer="d", terminal="n", cents=1)
    assert await store.record_transactions([squatter]) == [Conflict(tx("a", T, cents=300))]
    assert await store.peek_transactions([squatter]) == [Conflict(tx("a", T, cents=300))]
    [counts] = counts_only(await store.record_transactions([tx("b", T + 1, cents=1)]))
    assert counts.customer_count == (2, 2, 2)
    assert counts.customer_amount_cents == (301, 301, 301)
    [other] = counts_only(await store.record_transactions([tx("c", T + 1, customer="d")]))
    assert other.customer_count == (1, 1, 1)


async def test_a_later_transaction_of_the_batch_sees_the_earlier_ones() -> None:
    store = MemoryFeatureStore()
    counts = await store.record_transactions(
        [
            tx("first", T, cents=1),
            tx("second", T, cents=2),  # same time, recorded later: sees the first
            tx("earlier", T - HOUR, cents=4),  # earlier event time, recorded last: does not see them
            tx("first", T, cents=1),  # redelivered: its own tile as when first recorded, plus "earlier"
            tx("second", T, cents=999),  # other content: a conflict
        ]
    )
    assert counts[-1] == Conflict(tx("second", T, cents=2))
    assert [c.customer_count[0] for c in counts_only(counts[:-1])] == [1, 2, 1, 2]
    assert [c.customer_amount_cents[0] for c in counts_only(counts[:-1])] == [1, 3, 4, 5]


async def test_peek_answers_like_record_and_writes_nothing() -> None:
    store = MemoryFeatureStore()
    await store.record_transactions([tx("a", T - D - HOUR, customer="x"), tx("b", T - HOUR)])
    await store.record_labels([fraud("a", T - DAY_MS), fraud("new", T - DAY_MS)])
    batch = [
        tx("new", T - D, customer="y"),
        tx("c", T),
        tx("c", T),
        tx("d", T + 1, customer="z"),
        tx("b", T - HOUR),
        tx("b", T),
    ]
    peeked = await store.peek_transactions(batch)
    assert await store.peek_transactions(batch) == peeked
    # "d": its terminal windows end at T + 1 - D and hold "a" and "new", both labelled fraud by then
    # ("new" by a label held before it)
    assert counts_only(peeked[3:4])[0].terminal_count == (2, 2, 2)
    assert counts_only(peeked[3:4])[0].terminal_fraud == (2, 2, 2)
    assert peeked[5] == Conflict(tx("b", T - HOUR))
    assert await store.record_transactions(batch) == peeked


async def test_empty_batches() -> None:
    store: FeatureStore = MemoryFeatureStore()
    assert await store.peek_transactions([]) == []
    assert await store.record_transactions([]) == []
    assert await store.record_labels([]) == []
    await store.close()


def _stream(rng: random.Random, n: int, jitter_ms: int) -> tuple[list[TxFacts], list[LabelFacts]]:
    """Transactions an hour apart, delivered up to ``jitter_ms`` out of order plus redeliveries a few
    hours later, and labels (some before their transaction, some conflicting)."""
    txs = [
        TxFacts(f"tx{i}", f"c{rng.randrange(5)}", f"m{rng.randrange(4)}", T + i * HOUR, rng.randrange(10_000))
        for i in range(n)
    ]
    delivered = sorted(txs, key=lambda t: t.event_time_ms + rng.randrange(jitter_ms + 1))
    for i in range(n - 10, 0, -1):
        if rng.random() < 0.1:
            delivered.insert(i + rng.randrange(1, 8), delivered[i])
    labels = [
        LabelFacts(
            t.transaction_id,
            rng.random() < 0.3,
            t.event_time_ms + rng.randrange(-DAY_MS, 10 * DAY_MS),
            t.terminal_id,
            t.event_time_ms,
        )
        for t in txs
        if rng.random() < 0.6
    ]
    labels += [replace(label, is_fraud=not label.is_fraud) for label in labels[::7]]
    rng.shuffle(labels)
    return delivered, labels


@pytest.mark.parametrize("seed", range(3))
async def test_exact_within_the_allowed_lateness(seed: int) -> None:
    spec = FeatureSpec(
        customer_windows_days=(1, 3), terminal_windows_days=(2, 5), label_delay_days=2, allowed_lateness_days=1
    )
    rng = random.Random(seed)
    delivered, labels = _stream(rng, 600, spec.allowed_lateness_days * DAY_MS // 2)
    store, reference = MemoryFeatureStore(spec), Reference(spec)
    label_at, newest = 0, 0
    for start in range(0, len(delivered), 25):
        batch = delivered[start : start + 25]
        chunk = labels[label_at : label_at + rng.randrange(20)]
        label_at += len(chunk)
        outcomes = zip(await store.record_labels(chunk), [reference.label(label) for label in chunk], strict=True)
        # a label record past the terminal horizon (a day of them) may be gone: no window uses it any
        # more; so may its terminal's tile (a label joined on its own facts there is refused)
        horizon = newest - spec.terminal_horizon_ms - DAY_MS
        pruned = newest - spec.terminal_horizon_ms + spec.tile_ms
        for label, (outcome, expected) in zip(chunk, outcomes, strict=True):
            t = label.event_time_ms or 0
            assert outcome == expected or t < horizon or (outcome is LabelOutcome.NO_TRANSACTION and t < pruned)
        newest = max(newest, *(t.event_time_ms for t in batch))
        peeked = await store.peek_transactions(batch)
        recorded = await store.record_transactions(batch)
        assert recorded == peeked
        assert recorded == [reference.record(t) for t in batch]


async def test_history_beyond_the_horizon_is_pruned() -> None:
    spec = FeatureSpec(
        customer_windows_days=(1,), terminal_windows_days=(1,), label_delay_days=0, allowed_lateness_days=1
    )
    store = MemoryFeatureStore(spec)
    # "new" prunes the tiles up to that of T + 2h (2 days before it), and the claims before day T + 1d
    await store.record_transactions([tx("old", T + 2 * HOUR), tx("new", T + 2 * DAY_MS + 3 * HOUR)])
    [late] = counts_only(await store.record_transactions([tx("late", T + DAY_MS + HOUR)]))  # beyond the lateness
    assert late.customer_count == (1,)  # "old" would be in its window but is gone
    assert late.terminal_count == (1,)
    # past the claim horizon of its bucket (claims are dropped per bucket): not recorded at all (it
    # could be a redelivery), its counts answered
    stale_id = next(f"stale{i}" for i in range(1_000) if bucket_of(f"stale{i}".encode()) == bucket_of(b"new"))
    [stale] = counts_only(await store.record_transactions([tx(stale_id, T + 20 * HOUR)]))
    assert stale.customer_count == (0,)  # not even itself ("late" is after it, "old" pruned)
    assert counts_only(await store.peek_transactions([tx("probe", T + DAY_MS + HOUR)]))[0].customer_count == (2,)


async def test_offline_features_replays_in_event_time_order() -> None:
    txs = [tx("b", T + HOUR, cents=200), tx("a", T, cents=100), tx("c", T + D, customer="x")]
    labels = [fraud("a", T + D), LabelFacts("b", True, T + D + 1)]
    matrix = offline_features(txs, labels)
    assert matrix.shape == (3, 15)
    # rows in input order: "b" sees "a" (earlier event time) although it comes first in the input
    assert matrix[0, 3:5].tolist() == [2.0, 1.5]
    assert matrix[1, 3:5].tolist() == [1.0, 1.0]
    # "c" at T + D: its terminal windows end at T and hold "a" (label at T + D: known, labels go first
    # at equal times); "b" at T + 1h is after the end
    assert matrix[2, 9:].tolist() == [1.0, 1.0] * 3


def test_offline_features_equals_the_reference() -> None:
    spec = FeatureSpec(customer_windows_days=(1, 3), terminal_windows_days=(2,), label_delay_days=1)
    rng = random.Random(7)
    delivered, labels = _stream(rng, 400, 0)
    txs = list(dict.fromkeys(delivered))
    rng.shuffle(txs)
    events = sorted([(label.labeled_at_ms, 0, i) for i, label in enumerate(labels)])
    events += [(t.event_time_ms, 1, i) for i, t in enumerate(txs)]
    reference, counts = Reference(spec), {}
    for _, is_tx, i in sorted(events):
        if is_tx:
            counts[i] = reference.record(txs[i])
        else:
            reference.label(labels[i])
    expected = feature_matrix(txs, counts_only([counts[i] for i in range(len(txs))]), spec)
    np.testing.assert_array_equal(offline_features(txs, labels, spec), expected)


async def forged_future_scenario(store: FeatureStore, *, clock: bool) -> list[WindowCounts | Conflict]:
    """A card and terminal with six honest transactions (one labelled fraud), then one forged three
    years ahead at both (labelled fraud as well), then an honest one: the answers of the forged one's
    redelivery, a peek and the recording of the honest one. ``clock``: pass the stream's clock."""
    honest = [tx(f"h{i}", T + i * DAY_MS) for i in range(6)]
    forged, after = tx("forged", T + 3 * 365 * DAY_MS), tx("after", T + 5 * DAY_MS + D + HOUR)
    for facts in honest:
        await store.record_transactions([facts], clock_ms=facts.event_time_ms if clock else None)
    now = honest[-1].event_time_ms if clock else None
    await store.record_transactions([forged], clock_ms=now)
    labels = [fraud("h1", T + 2 * DAY_MS), fraud("forged", forged.event_time_ms + HOUR)]
    assert await store.record_labels(labels, clock_ms=now) == [LabelOutcome.NEW] * 2
    return [
        *await store.record_transactions([forged, honest[3]], clock_ms=now),
        *await store.peek_transactions([after], clock_ms=now),
        *await store.record_transactions([after], clock_ms=now),
    ]


async def test_a_transaction_forged_years_ahead_prunes_no_history_below_the_clock() -> None:
    kept = await forged_future_scenario(MemoryFeatureStore(), clock=True)
    history = WindowCounts((1, 1, 7), (100, 100, 700), (1, 6, 6), (0, 1, 1))
    assert kept[2:] == [history, history]
    # without the clock, pruning follows the forged time: the card and terminal lose their history
    lost = await forged_future_scenario(MemoryFeatureStore(), clock=False)
    assert lost[2:] == [WindowCounts((1, 1, 1), (100, 100, 100), (0, 0, 0), (0, 0, 0))] * 2


OWN_FACTS_SPEC = FeatureSpec(allowed_lateness_days=1)


async def own_facts_scenario(store: FeatureStore) -> tuple[list[LabelOutcome], WindowCounts | Conflict]:
    """Three transactions at terminal "V" in one tile, then traffic moving every bucket's claim floor
    past their day, then labels joined on their own terminal and time (forged ids among them): the
    labels' outcomes, and a peek whose terminal windows hold that tile."""
    old = [tx(f"v{i}", T + i * 60_000, customer=f"c{i}", terminal="V") for i in range(3)]
    await store.record_transactions(old, clock_ms=T)
    clock = T + 3 * DAY_MS
    await store.record_transactions(
        [tx(f"f{i}", clock, customer="f", terminal="F") for i in range(400)], clock_ms=clock
    )

    def own(tx_id: str, t: int, is_fraud: bool = True, labeled_at: int = clock) -> LabelFacts:
        return LabelFacts(tx_id, is_fraud, labeled_at, "V", t)

    batches = [
        [own(f"forged{i}", T + i) for i in range(10)],
        # outside the terminal's recorded tiles, or at another terminal
        [own("x", T + 5 * HOUR), replace(own("y", T), terminal_id="W")],
        # a counted one corrected (moved), another reversed (frees its place)
        [own("forged0", T, labeled_at=clock + 1), own("forged1", T, False, clock + 1)],
        [own("v1", T + 60_000)],
        [own("v2", T + 60_000)],
    ]
    outcomes = [outcome for batch in batches for outcome in await store.record_labels(batch, clock_ms=clock)]
    probe = tx("probe", T + OWN_FACTS_SPEC.label_delay_days * DAY_MS + HOUR, customer="p", terminal="V")
    [counts] = await store.peek_transactions([probe], clock_ms=clock)
    return outcomes, counts


async def test_a_label_joined_on_its_own_facts_needs_an_uncounted_transaction_of_its_tile() -> None:
    """Past the claim horizon a label joins on its own terminal and time: only as many fraud labels
    count in a tile as the terminal has transactions there, so forged ones cannot push its risk
    above 1; a correction of a counted one still moves it."""
    outcomes, counts = await own_facts_scenario(MemoryFeatureStore(OWN_FACTS_SPEC))
    refused = LabelOutcome.NO_TRANSACTION
    assert outcomes == [LabelOutcome.NEW] * 3 + [refused] * 9 + [LabelOutcome.CORRECTED] * 2 + [
        LabelOutcome.NEW,
        refused,
    ]
    assert counts == WindowCounts((1, 1, 1), (100, 100, 100), (3, 3, 3), (3, 3, 3))
