"""The Redis feature store against a real server and a real three-master cluster: parity with the
offline features, idempotency, read-only peeks, unavailability."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

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
from fraudcore.features.redis_calls import Claim, customer_calls, label_claim_calls
from fraudcore.features.redis_store import RedisClient, RedisFeatureStore
from fraudcore.features.store import FeatureStore, FeatureStoreUnavailable
from fraudcore.local.redis_cluster import LocalRedisCluster
from fraudcore.settings import Settings
from producer.simulator import SimulationParams, Simulator
from schemas.enums import LabelSource
from schemas.events import Label, Transaction
from tests.integration.conftest import free_port
from tests.unit.features.test_memory_store import (
    HELD_SPEC,
    OWN_FACTS_SPEC,
    forged_future_scenario,
    held_labels_scenario,
    own_facts_scenario,
)

HOUR = 3_600_000
Snapshot = dict[bytes, object]


def simulate(params: SimulationParams, spec: FeatureSpec) -> tuple[list[TxFacts], list[LabelFacts]]:
    """The simulator's transactions in event-time order, fraud labelled after the spec's delay, some
    genuine ones labelled too (a few of those before their transaction)."""
    rng = random.Random(params.seed)
    txs: list[TxFacts] = []
    labels: list[LabelFacts] = []
    for day in Simulator(params).days():
        for i, moment in enumerate(day.event_times(params.start)):
            tx = Transaction(
                transaction_id=f"{day.day}-{i}",
                event_time=moment,
                customer_id=f"card {day.customer[i]}",
                terminal_id=f"term|{day.terminal[i]}",
                amount=float(day.amount[i]),
            )
            txs.append(TxFacts.of(tx))
            is_fraud = bool(day.scenario[i])
            if is_fraud or rng.random() < 0.05:
                delay = timedelta(days=spec.label_delay_days) if is_fraud else timedelta(hours=rng.randrange(-3, 200))
                label = Label(
                    transaction_id=tx.transaction_id,
                    is_fraud=is_fraud,
                    labeled_at=moment + delay,
                    source=LabelSource.SIMULATED,
                    terminal_id=tx.terminal_id,
                    transaction_time=moment,
                )
                labels.append(LabelFacts.of(label))
    labels.sort(key=lambda label: label.labeled_at_ms)
    return txs, labels


async def snapshot(client: RedisClient, namespace: str) -> Snapshot:
    """Every key of the namespace with its content."""
    content: Snapshot = {}
    async for key in client.scan_iter(match=f"{namespace}:*", count=1_000):
        kind = await client.type(key)
        if kind == b"string":
            content[key] = await client.get(key)
        elif kind == b"hash":
            content[key] = await client.hgetall(key)
        elif kind == b"list":
            content[key] = await client.lrange(key, 0, -1)
        else:
            content[key] = await client.zrange(key, 0, -1, withscores=True)
    return content


@pytest_asyncio.fixture(params=["standalone", "cluster"])
async def store_client(
    request: pytest.FixtureRequest, services: Settings, redis_cluster: LocalRedisCluster
) -> AsyncIterator[RedisClient]:
    """A client of the session's standalone Redis, or of its three-master cluster."""
    client: RedisClient
    if request.param == "cluster":
        client = RedisCluster.from_url(redis_cluster.url)
    else:
        client = aioredis.Redis.from_url(services.redis_connection_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture
async def namespace(store_client: RedisClient, unique: str) -> AsyncIterator[str]:
    """A key namespace of the test's own, deleted afterwards."""
    name = f"test:{unique}:fs"
    yield name
    keys = [key async for key in store_client.scan_iter(match=f"{name}:*", count=1_000)]
    if keys:
        await store_client.delete(*keys)


SMALL = SimulationParams(seed=5, n_customers=60, n_terminals=400, days=50)


async def test_redis_features_equal_the_offline_features(store_client: RedisClient, namespace: str) -> None:
    spec = DEFAULT_SPEC
    txs, labels = simulate(SMALL, spec)
    assert 3_000 < len(txs) < 10_000
    assert sum(label.is_fraud for label in labels) > 30
    store, twin = RedisFeatureStore(store_client, spec, namespace), MemoryFeatureStore(spec)
    counts: list[WindowCounts] = []
    next_label = 0
    for start in range(0, len(txs), 150):
        batch = txs[start : start + 150]
        due = next_label
        while due < len(labels) and labels[due].labeled_at_ms <= batch[-1].event_time_ms:
            due += 1
        chunk = labels[next_label:due]
        next_label = due
        assert await store.record_labels(chunk) == await twin.record_labels(chunk)
        recorded = counts_only(await store.record_transactions(batch))
        assert recorded == await twin.record_transactions(batch)
        counts += recorded
    np.testing.assert_array_equal(feature_matrix(txs, counts, spec), offline_features(txs, labels, spec))
    assert max(c.customer_count[-1] for c in counts) > 20
    assert max(c.terminal_fraud[-1] for c in counts) > 0
    ttls = [await store_client.ttl(key) async for key in store_client.scan_iter(match=f"{namespace}:*")]
    assert ttls
    assert all(0 < ttl <= spec.key_ttl_s for ttl in ttls)


def _shuffle_within(rng: random.Random, txs: Sequence[TxFacts], jitter_ms: int) -> list[TxFacts]:
    """Deliver out of event-time order (by at most ``jitter_ms``), with redeliveries and altered copies."""
    delivered = sorted(txs, key=lambda tx: tx.event_time_ms + rng.randrange(jitter_ms + 1))
    for i in range(len(delivered) - 20, 0, -1):
        if rng.random() < 0.05:
            copy = delivered[i]
            if rng.random() < 0.3:
                copy = replace(copy, customer_id="someone else", amount_cents=copy.amount_cents + 1)
            delivered.insert(i + rng.randrange(1, 20), copy)
    return delivered


@pytest.mark.parametrize("lateness_days", [1, 0])
async def test_out_of_order_redelivered_stream_matches_the_memory_store(
    store_client: RedisClient, namespace: str, lateness_days: int
) -> None:
    """Same calls, same answers (peeks included), within the allowed lateness or beyond it."""
    spec = FeatureSpec(
        customer_windows_days=(1, 3),
        terminal_windows_days=(2, 5),
        label_delay_days=2,
        allowed_lateness_days=lateness_days,
    )
    rng = random.Random(lateness_days)
    txs, labels = simulate(replace(SMALL, days=20), spec)
    delivered = _shuffle_within(rng, txs, 18 * HOUR)
    early = [LabelFacts(tx.transaction_id, True, tx.event_time_ms - HOUR) for tx in rng.sample(txs, 40)]
    store, twin = RedisFeatureStore(store_client, spec, namespace), MemoryFeatureStore(spec)
    assert await store.record_labels(early) == await twin.record_labels(early) == [LabelOutcome.HELD] * 40
    next_label = 0
    for start in range(0, len(delivered), 97):
        batch = delivered[start : start + 97]
        chunk = labels[next_label : next_label + rng.randrange(40)]
        next_label += len(chunk)
        assert await store.record_labels(chunk) == await twin.record_labels(chunk)
        peeked = await store.peek_transactions(batch)
        assert peeked == await twin.peek_transactions(batch)
        assert await store.record_transactions(batch) == await twin.record_transactions(batch) == peeked


async def test_ids_of_any_characters(store_client: RedisClient, namespace: str) -> None:
    t = 1_600_000_000_000
    txs = [
        TxFacts("a|b:c", "ü 1", "t:1|x", t, 105),
        TxFacts("é,2", "ü 1", "t:1|x", t + 1, 0),
        TxFacts("3", "ü", " 1|x", t + 2, 1_000_000),
        TxFacts("4", "ü 1", "t:1|x", t + 2 * DAY_MS + HOUR, 7),
    ]
    labels = [LabelFacts("a|b:c", True, t + DAY_MS), LabelFacts("é,2", True, t + 3 * DAY_MS)]
    spec = FeatureSpec(label_delay_days=2)
    store, twin = RedisFeatureStore(store_client, spec, namespace), MemoryFeatureStore(spec)
    await store.record_labels(labels[:1])
    await twin.record_labels(labels[:1])
    assert await store.record_transactions(txs[:3]) == await twin.record_transactions(txs[:3])
    assert await store.record_labels(labels[1:]) == await twin.record_labels(labels[1:]) == [LabelOutcome.NEW]
    [counts] = counts_only(await store.record_transactions(txs[3:]))
    assert counts == (await twin.record_transactions(txs[3:]))[0]
    assert counts.customer_count == (1, 3, 3)
    assert counts.customer_amount_cents == (7, 112, 112)
    assert counts.terminal_count == (2, 2, 2)
    assert counts.terminal_fraud == (1, 1, 1)  # the second label comes after t


async def test_a_late_transaction_before_many_later_ones(store_client: RedisClient, namespace: str) -> None:
    """An out-of-order insert rewrites the running totals of all later members (here 1,200 of them)."""
    t = 1_600_000_000_000
    busy = [TxFacts(f"b{i}", "busy", f"m{i % 7}", t + i * 60_000, i) for i in range(1_200)]
    late = [TxFacts("late", "busy", "m0", t - 1, 5), TxFacts("next", "busy", "m1", t + 1_200 * 60_000, 1)]
    store, twin = RedisFeatureStore(store_client, namespace=namespace), MemoryFeatureStore()
    assert await store.record_transactions(busy) == await twin.record_transactions(busy)
    recorded = counts_only(await store.record_transactions(late))
    assert recorded == await twin.record_transactions(late)
    assert recorded[1].customer_count == (1_202, 1_202, 1_202)
    assert recorded[1].customer_amount_cents == (sum(range(1_200)) + 6,) * 3


async def test_out_of_range_amounts_are_refused(store_client: RedisClient, namespace: str) -> None:
    store = RedisFeatureStore(store_client, namespace=namespace)
    with pytest.raises(ValueError, match="amount_cents must be within"):
        await store.record_transactions([TxFacts("a", "c", "t", 1_600_000_000_000, -1)])


async def test_replaying_batches_changes_nothing(store_client: RedisClient, namespace: str) -> None:
    txs, labels = simulate(replace(SMALL, days=10), DEFAULT_SPEC)
    store, twin = RedisFeatureStore(store_client, namespace=namespace), MemoryFeatureStore()
    batches = [txs[start : start + 200] for start in range(0, len(txs), 200)]
    await store.record_labels(labels)
    await twin.record_labels(labels)
    for batch in batches:
        assert await store.record_transactions(batch) == await twin.record_transactions(batch)
    before = await snapshot(store_client, namespace)
    # a redelivery counts the transactions recorded since in its tiles, as the twin does
    assert await store.record_transactions(batches[-1]) == await twin.record_transactions(batches[-1])
    for batch in batches[:3]:
        await store.record_transactions(batch)
    outcomes = await store.record_labels(labels)
    assert LabelOutcome.CORRECTED not in outcomes
    assert all(
        outcome is LabelOutcome.UNCHANGED for label, outcome in zip(labels, outcomes, strict=True) if label.is_fraud
    )
    assert await snapshot(store_client, namespace) == before


async def test_peek_writes_nothing(store_client: RedisClient, namespace: str) -> None:
    txs, labels = simulate(replace(SMALL, days=10), DEFAULT_SPEC)
    store = RedisFeatureStore(store_client, namespace=namespace)
    await store.record_labels(labels)
    await store.record_transactions(txs[:-300])
    before = await snapshot(store_client, namespace)
    peeked = await store.peek_transactions(txs[-300:])
    assert await store.peek_transactions(txs[-300:]) == peeked
    assert await store.peek_transactions(txs[:100]) == await store.record_transactions(txs[:100])
    assert await snapshot(store_client, namespace) == before
    assert await store.record_transactions(txs[-300:]) == peeked


async def test_scripts_are_reloaded_after_a_script_flush(store_client: RedisClient, namespace: str) -> None:
    store: FeatureStore = RedisFeatureStore(store_client, namespace=namespace)
    tx = TxFacts("a", "c", "t", 1_600_000_000_000, 1)
    await store_client.script_flush()
    assert await store.record_labels([LabelFacts("a", True, 1)]) == [LabelOutcome.HELD]
    await store_client.script_flush()
    [counts] = counts_only(await store.record_transactions([tx]))
    assert counts.customer_count == (1, 1, 1)


@pytest.mark.parametrize("cluster", [False, True])
async def test_an_unreachable_redis_raises_unavailable(cluster: bool) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    store = (
        RedisFeatureStore(RedisCluster.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5), namespace="fs")
        if cluster
        else RedisFeatureStore.from_url(url, namespace="fs", timeout_s=0.5)
    )
    tx = TxFacts("a", "c", "t", 1_600_000_000_000, 1)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.record_transactions([tx]),
        lambda: store.peek_transactions([tx]),
        lambda: store.record_labels([LabelFacts("a", True, 1)]),
        lambda: _all_chunks(store, [[tx], [tx]]),
    ]
    try:
        for call in calls:
            began = time.monotonic()
            with pytest.raises(FeatureStoreUnavailable, match="Redis is unavailable"):
                await call()
            assert time.monotonic() - began < 5
    finally:
        await store.close()


def _without(namespace: str, content: Snapshot) -> Snapshot:
    return {key.removeprefix(namespace.encode()): value for key, value in content.items()}


@pytest.mark.parametrize("crash_after", ["claim", "customers"])
async def test_a_crash_between_phases_loses_nothing(
    store_client: RedisClient, namespace: str, crash_after: str
) -> None:
    """Batches (and label batches) whose first delivery stopped after phase A (or A and B), delivered
    again, give the counts and keys of a clean run."""
    txs, labels = simulate(replace(SMALL, days=15), DEFAULT_SPEC)
    clean_namespace = f"{namespace}:clean"
    crashing = RedisFeatureStore(store_client, namespace=namespace)
    clean, twin = RedisFeatureStore(store_client, namespace=clean_namespace), MemoryFeatureStore()
    next_label = 0
    for number, start in enumerate(range(0, len(txs), 150)):
        batch = txs[start : start + 150]
        due = next_label
        while due < len(labels) and labels[due].labeled_at_ms <= batch[-1].event_time_ms:
            due += 1
        chunk = labels[next_label:due]
        next_label = due
        if number % 2 and chunk:  # labels: phase 1 only, then the whole batch again
            await crashing._run(label_claim_calls(crashing._layout, chunk, DEFAULT_SPEC, per_bucket=True))
        await crashing.record_labels(chunk)
        assert await clean.record_labels(chunk) == await twin.record_labels(chunk)
        stopped = number % 3 == 0
        if stopped:  # transactions: phase A (and B), then the whole batch again
            claims = await crashing._claim(batch, record=True, clock_ms=None)
            if crash_after == "customers":
                layout, per_bucket = crashing._layout, crashing._per_bucket
                claimed = [claim for claim in claims if isinstance(claim, Claim)]
                await crashing._run(customer_calls(layout, claimed, DEFAULT_SPEC, record=True, per_bucket=per_bucket))
            else:
                assert await crashing.peek_transactions(batch) == await twin.peek_transactions(batch)
        recorded = counts_only(await crashing.record_transactions(batch))
        expected = await twin.record_transactions(batch)
        assert await clean.record_transactions(batch) == expected
        if stopped and crash_after == "customers":
            # the whole batch is in its customers' tiles already: each row also counts the later rows of
            # its batch in its current tile, as any redelivery does
            expected = await twin.record_transactions(batch)
        assert recorded == expected
    assert max(c.terminal_fraud[-1] for c in recorded) > 0
    crashed = _without(namespace, await snapshot(store_client, namespace))
    crashed = {key: value for key, value in crashed.items() if not key.startswith(b":clean:")}
    assert crashed == _without(clean_namespace, await snapshot(store_client, clean_namespace))


async def test_a_redelivery_after_pruning_writes_nothing(store_client: RedisClient, namespace: str) -> None:
    """A transaction delivered again past the claim horizon (its claim dropped) writes nothing: it is not
    taken for one whose first delivery crashed, nor for a new one."""
    spec = FeatureSpec(customer_windows_days=(1,), terminal_windows_days=(1,), label_delay_days=0)
    t = 1_600_000_000_000
    old, new = TxFacts("old", "c", "m", t, 5), TxFacts("new", "c", "m", t + 40 * DAY_MS, 7)
    store, twin = RedisFeatureStore(store_client, spec, namespace), MemoryFeatureStore(spec)
    assert await store.record_transactions([old, new]) == await twin.record_transactions([old, new])
    before = await snapshot(store_client, namespace)
    assert await store.record_transactions([old]) == await twin.record_transactions([old])
    assert await snapshot(store_client, namespace) == before


async def test_a_transaction_forged_years_ahead_prunes_no_history_below_the_clock(
    store_client: RedisClient, namespace: str
) -> None:
    """Pruning relative to min(t, the stream's clock): the forged transaction leaves the history of its
    card, terminal and the terminal's frauds (labels phase) in place, as in the memory store; with
    no clock both prune relative to the forged time."""
    for clock in (True, False):
        store = RedisFeatureStore(store_client, namespace=f"{namespace}:{clock}")
        assert await forged_future_scenario(store, clock=clock) == await forged_future_scenario(
            MemoryFeatureStore(), clock=clock
        )


async def test_a_crashed_delivery_is_completed_after_a_forged_future_transaction(
    store_client: RedisClient, namespace: str
) -> None:
    """The prune floor of a redelivery follows the clock too: a transaction whose first delivery stopped
    after phase A is added when delivered again, although a forged one tops its sets."""
    t = 1_600_000_000_000
    honest = [TxFacts(f"h{i}", "c", "m", t + i * HOUR, 100) for i in range(6)]
    forged, late = TxFacts("forged", "c", "m", t + 1_000 * DAY_MS, 100), TxFacts("late", "c", "m", t + 7 * HOUR, 100)
    store, twin = RedisFeatureStore(store_client, namespace=namespace), MemoryFeatureStore()
    for batch in ([*honest, forged], [late]):
        if batch == [late]:
            await store._claim(batch, record=True, clock_ms=None)  # the first delivery stops after phase A
        answers = await store.record_transactions(batch, clock_ms=t + 5 * HOUR)
        assert answers == await twin.record_transactions(batch, clock_ms=t + 5 * HOUR)
    assert counts_only(answers)[0].customer_count == (7, 7, 7)


async def _all_chunks(store: FeatureStore, chunks: Sequence[Sequence[TxFacts]]) -> list[WindowCounts | Conflict]:
    counts: list[WindowCounts | Conflict] = []
    async with aclosing(store.record_chunks(chunks)) as counted:
        async for chunk_counts in counted:
            counts += chunk_counts
    return counts


async def test_recording_in_chunks_equals_recording_batch_by_batch(store_client: RedisClient, namespace: str) -> None:
    """The same out-of-order, redelivered stream recorded in chunks (several per call, the server one
    chunk ahead on standalone Redis) gives the memory store's counts and the keys of batch-by-batch
    recording."""
    rng = random.Random(7)
    txs, labels = simulate(replace(SMALL, days=20), DEFAULT_SPEC)
    delivered = _shuffle_within(rng, txs, 18 * HOUR)
    by_batch_namespace = f"{namespace}:by-batch"
    chunked = RedisFeatureStore(store_client, namespace=namespace)
    by_batch, twin = RedisFeatureStore(store_client, namespace=by_batch_namespace), MemoryFeatureStore()
    next_label, most_chunks = 0, 0
    for start in range(0, len(delivered), 400):
        batch = delivered[start : start + 400]
        chunk = labels[next_label : next_label + rng.randrange(60)]
        next_label += len(chunk)
        for store in (chunked, by_batch, twin):
            await store.record_labels(chunk)
        sizes = [rng.randrange(1, 120) for _ in range(len(batch))]
        cuts = [0, *np.cumsum(sizes)[np.cumsum(sizes) < len(batch)].tolist(), len(batch)]
        chunks = [batch[a:b] for a, b in itertools.pairwise(cuts)]
        most_chunks = max(most_chunks, len(chunks))
        recorded = await _all_chunks(chunked, chunks)
        assert recorded == await by_batch.record_transactions(batch) == await twin.record_transactions(batch)
    assert most_chunks > 4
    content = _without(namespace, await snapshot(store_client, namespace))
    content = {key: value for key, value in content.items() if not key.startswith(b":by-batch:")}
    assert content == _without(by_batch_namespace, await snapshot(store_client, by_batch_namespace))


async def test_chunks_survive_a_script_flush_midway(store_client: RedisClient, namespace: str) -> None:
    # the chunk in flight when the scripts vanish may be recorded again: no card appears twice in a
    # chunk, so its counts do not depend on it
    t = 1_600_000_000_000
    txs = [TxFacts(f"tx{i}", f"c{i % 200}", f"m{i % 30}", t + i * 60_000, 100 + i) for i in range(600)]
    chunks = [txs[at : at + 50] for at in range(0, 600, 50)]
    store, twin = RedisFeatureStore(store_client, namespace=namespace), MemoryFeatureStore()
    counts: list[WindowCounts] = []
    await store_client.script_flush()
    async with aclosing(store.record_chunks(chunks)) as counted:
        async for chunk_counts in counted:
            counts += counts_only(chunk_counts)
            if len(counts) in (100, 350):
                await store_client.script_flush()
    assert counts == await _all_chunks(twin, chunks)


async def test_leaving_a_chunk_stream_early_leaves_the_store_usable(store_client: RedisClient, namespace: str) -> None:
    """A caller that stops after the first chunk (an error while scoring it) leaves no reply unread on a
    pooled connection: the store answers correctly afterwards, and the stream's chunks can be recorded
    again (the ones the server recorded ahead count once)."""
    txs, _ = simulate(replace(SMALL, days=6), DEFAULT_SPEC)
    chunks = [txs[at : at + 50] for at in range(0, 300, 50)]
    store, twin = RedisFeatureStore(store_client, namespace=namespace), MemoryFeatureStore()
    async with aclosing(store.record_chunks(chunks)) as counted:
        first = await anext(counted)
    assert first == await twin.record_transactions(chunks[0])
    assert await _all_chunks(store, chunks[1:]) == await _all_chunks(twin, chunks[1:])
    assert await store.record_transactions(txs[300:400]) == await twin.record_transactions(txs[300:400])


async def test_label_rules_on_redis_equal_the_memory_store(store_client: RedisClient, namespace: str) -> None:
    """Corrections (both ways), older labels, labels before their transaction, held labels at their
    bound and a correction whose second phase was lost: Redis answers as the memory store does."""
    spec = FeatureSpec(held_labels_per_bucket=2)
    store, twin = RedisFeatureStore(store_client, spec, namespace), MemoryFeatureStore(spec)
    t = 1_600_000_000_000
    txs = [TxFacts(f"x{i}", f"c{i}", "m", t + (i + 1) * HOUR, 100) for i in range(4)]
    assert await store.record_transactions(txs) == await twin.record_transactions(txs)
    probe = [TxFacts("probe", "p", "m", t + (spec.label_delay_days + 1) * DAY_MS, 1)]

    async def risk() -> int:
        [counts] = counts_only(await store.peek_transactions(probe))
        assert [counts] == await twin.peek_transactions(probe)
        return counts.terminal_fraud[0]

    steps = [
        ([LabelFacts("x0", False, t + DAY_MS)], [LabelOutcome.NEW], 0),  # over no fraud label: nothing kept
        ([LabelFacts("x0", True, t + 2 * DAY_MS)], [LabelOutcome.NEW], 1),  # the chargeback
        ([LabelFacts("x0", False, t + DAY_MS + 5)], [LabelOutcome.UNCHANGED], 1),  # older, late
        ([LabelFacts("x1", True, t)], [LabelOutcome.BEFORE_TRANSACTION], 1),
        ([LabelFacts("x0", True, t + 3 * DAY_MS)], [LabelOutcome.CORRECTED], 1),  # moves to the later labeled_at
        (
            [LabelFacts("x2", True, t + DAY_MS), LabelFacts("x2", False, t + 4 * DAY_MS)],
            [LabelOutcome.NEW, LabelOutcome.CORRECTED],
            1,
        ),
    ]
    for labels, outcomes, expected in steps:
        assert await store.record_labels(labels) == await twin.record_labels(labels) == outcomes
        assert await risk() == expected
    fraud_key = store._layout.key(b"frauds", b"m")
    assert await store_client.hgetall(fraud_key) == {b"%d:%d" % (spec.tile_of(t + HOUR), t + 3 * DAY_MS): b"1"}

    # held, then dropped when its transaction arrives with a later event time (a peek drops nothing)
    early, held_tx = [LabelFacts("x9", True, t, "m", t + HOUR)], [TxFacts("x9", "c9", "m", t + HOUR, 100)]
    assert await store.record_labels(early) == await twin.record_labels(early) == [LabelOutcome.HELD]
    assert await store.peek_transactions(held_tx) == await twin.peek_transactions(held_tx)
    assert (store.held_labels_dropped, twin.held_labels_dropped) == (0, 0)
    assert await store.record_transactions(held_tx) == await twin.record_transactions(held_tx)
    assert (store.held_labels_dropped, twin.held_labels_dropped) == (1, 1)
    assert await store.record_transactions(held_tx) == await twin.record_transactions(held_tx)  # redelivered
    assert store.held_labels_dropped == 1

    forged = [LabelFacts(f"forged{i}", True, t, "m", t) for i in range(300)]
    outcomes = await store.record_labels(forged)
    assert outcomes == await twin.record_labels(forged)
    assert {LabelOutcome.HELD, LabelOutcome.UNKNOWN_TRANSACTION} == set(outcomes)
    held_keys = {store._layout.bucket_key(b"hold", label.transaction_id.encode()) for label in forged}
    assert max([await store_client.hlen(key) for key in held_keys]) == 2

    # a correction whose first delivery stopped after phase 1: its redelivery does the job
    reversal = [LabelFacts("x0", False, t + 5 * DAY_MS)]
    await store._run(label_claim_calls(store._layout, reversal, spec, per_bucket=store._per_bucket))
    assert await store.record_labels(reversal) == await twin.record_labels(reversal) == [LabelOutcome.CORRECTED]
    assert await store.record_labels(reversal) == await twin.record_labels(reversal) == [LabelOutcome.UNCHANGED]
    assert await risk() == 0
    assert await store_client.hlen(fraud_key) == 0


async def test_labels_joined_on_their_own_facts_on_redis_equal_the_memory_store(
    store_client: RedisClient, namespace: str
) -> None:
    """Forged labels carrying a terminal and time past the claim horizon count at most once per
    recorded transaction of the tile, on Redis as in the memory store."""
    store = RedisFeatureStore(store_client, OWN_FACTS_SPEC, namespace)
    outcomes, counts = await own_facts_scenario(store)
    assert (outcomes, counts) == await own_facts_scenario(MemoryFeatureStore(OWN_FACTS_SPEC))
    assert outcomes.count(LabelOutcome.NO_TRANSACTION) == 10
    assert isinstance(counts, WindowCounts)
    assert counts.terminal_fraud == counts.terminal_count == (3, 3, 3)
    fraud_fields = await store_client.hgetall(store._layout.key(b"frauds", b"V"))
    assert sum(map(int, fraud_fields.values())) == 3


async def test_labels_without_claim_on_redis_equal_the_memory_store(store_client: RedisClient, namespace: str) -> None:
    """A label with no claim and no transaction time is refused in a running stream; expired held
    labels are dropped and counted: on Redis as in the memory store."""
    store = RedisFeatureStore(store_client, HELD_SPEC, namespace)
    answers = await held_labels_scenario(store)
    assert answers == await held_labels_scenario(MemoryFeatureStore(HELD_SPEC))
    assert answers[1][-1] == 2
    [held_key] = {store._layout.bucket_key(b"hold", b"s0")}
    assert await store_client.hlen(held_key) == 0


async def test_one_busy_card_and_terminal_in_a_large_batch(store_client: RedisClient, namespace: str) -> None:
    """Many rows of one card and terminal in one call, out of order, some labels known only after some
    rows' times (the scripts' running sums and fraud index, rebuilt as the batch changes them)."""
    rng = random.Random(3)
    t = 1_600_000_000_000
    spec = FeatureSpec(label_delay_days=1)
    history = [TxFacts(f"h{i}", "card", "term", t + i * 30 * 60_000, 100 + i) for i in range(600)]
    labels = [
        LabelFacts(tx.transaction_id, True, tx.event_time_ms + rng.randrange(4 * DAY_MS), "term", tx.event_time_ms)
        for tx in history[::4]
    ]
    newest = history[-1].event_time_ms
    batch = [
        TxFacts(f"b{i}", "card", "term", newest - rng.randrange(3 * DAY_MS), rng.randrange(1, 1_000))
        for i in range(400)
    ]
    store, twin = RedisFeatureStore(store_client, spec, namespace), MemoryFeatureStore(spec)
    for target in (store, twin):
        await target.record_transactions(history[:300])
        await target.record_labels(labels)
        await target.record_transactions(history[300:])
    peeked = await store.peek_transactions(batch)
    assert peeked == await twin.peek_transactions(batch)
    assert await store.record_transactions(batch) == await twin.record_transactions(batch) == peeked
    frauds = {counts.terminal_fraud for counts in counts_only(peeked)}
    assert len(frauds) > 10  # labels known at some rows' times only


def _shift_sums(raw: bytes, widths: tuple[int, ...], by: int) -> bytes:
    """A tile string (see the key table of ``redis_store``) with ``by`` added to the header's and every
    record's sums: the same windows, as after a long life of the key."""

    def shifted(sums: bytes) -> bytes:
        out, at = b"", 0
        for width in widths:
            out += (int.from_bytes(sums[at : at + width], "big", signed=True) + by).to_bytes(width, "big", signed=True)
            at += width
        return out

    header, record = sum(widths), 4 + sum(widths)
    records = [raw[i : i + record] for i in range(header, len(raw), record)]
    return shifted(raw[:header]) + b"".join(r[:4] + shifted(r[4:]) for r in records)


async def test_tile_sums_grown_large_are_rebased_when_pruned(store_client: RedisClient, namespace: str) -> None:
    """Running sums far above the content (a key alive for years) give the same windows, and the first
    prune past the rebase threshold makes them relative to the first tile kept again."""
    spec = FeatureSpec(customer_windows_days=(1, 2), terminal_windows_days=(1, 2), label_delay_days=1)
    t = 1_600_000_000_000
    txs = [TxFacts(f"t{i}", "card", "term", t + i * 10 * HOUR, 100 + i) for i in range(40)]  # 16 days
    store, twin = RedisFeatureStore(store_client, spec, namespace), MemoryFeatureStore(spec)
    assert await store.record_transactions(txs[:20]) == await twin.record_transactions(txs[:20])
    keys = {
        kind: [key async for key in store_client.scan_iter(match=f"{namespace}:{kind}:*")]
        for kind in ("csums", "tsums")
    }
    big = 2**37  # above the count threshold (2**36), within the count width (i5)
    for kind, widths in (("csums", (5, 8)), ("tsums", (5,))):
        (key,) = keys[kind]
        raw = await store_client.get(key)
        assert isinstance(raw, bytes)
        await store_client.set(key, _shift_sums(raw, widths, big))
    assert await store.record_transactions(txs[20:]) == await twin.record_transactions(txs[20:])
    for kind in ("csums", "tsums"):
        raw = await store_client.get(keys[kind][0])
        assert isinstance(raw, bytes)
        assert int.from_bytes(raw[:5], "big", signed=True) < 40  # the header's count: rebased
