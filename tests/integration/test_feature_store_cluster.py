"""The feature store on a real three-master Redis Cluster: where its keys land, and the scorer's
feature path opened from the settings (semantics: ``test_feature_store.py``, on both backends)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from fraudcore.features.bench import synthetic_stream
from fraudcore.features.buckets import bucket_of, bucket_tag
from fraudcore.features.definition import DAY_MS, TxFacts, counts_only
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.features.open_store import open_feature_store
from fraudcore.features.redis_store import RedisFeatureStore
from fraudcore.features.store import FeatureStore, FeatureStoreUnavailable
from fraudcore.local.redis_cluster import LocalRedisCluster, free_cluster_ports
from fraudcore.models import CHAMPION
from fraudcore.settings import Settings
from schemas.events import Transaction
from schemas.examples import EXAMPLE_NOW, example_transaction
from scorer.decisions import Thresholds
from scorer.model_holder import ModelHolder
from scorer.scoring import BatchScorer
from tests.unit.scorer.twins import MemorySource, loaded_model


async def test_one_batch_lands_on_every_master(
    redis_cluster: LocalRedisCluster, cluster_client: RedisCluster, unique: str
) -> None:
    namespace = f"test:{unique}:fs"
    stream = synthetic_stream(500, customers=200, terminals=300)
    store = RedisFeatureStore(cluster_client, namespace=namespace)
    await store.record_labels(stream.labels)
    await store.record_transactions(stream.transactions)
    per_master: dict[int, dict[bytes, int]] = {}
    for port in redis_cluster.ports:
        node = aioredis.Redis(port=port)
        try:
            kinds: dict[bytes, int] = {}
            async for key in node.scan_iter(match=f"{namespace}:*", count=1_000):
                kind = key.removeprefix(f"{namespace}:".encode()).split(b":", 1)[0]
                kinds[kind] = kinds.get(kind, 0) + 1
            per_master[port] = kinds
        finally:
            await node.aclose()
    txs, fraud_ids = stream.transactions, {label.transaction_id for label in stream.labels}
    assert fraud_ids

    def day_keys(pairs: list[tuple[str, int]]) -> int:
        """Day records: per bucket present its index, and a hash (claims: a list of ids) per day of it."""
        tagged = {(bucket_of(entity.encode()), t // DAY_MS) for entity, t in pairs}
        return len({bucket for bucket, _ in tagged}) + len(tagged)

    expected = {
        b"claims": len({bucket_of(tx.transaction_id.encode()) for tx in txs}),
        b"cday": day_keys([(tx.transaction_id, tx.event_time_ms) for tx in txs]),
        b"cmark": day_keys([(tx.customer_id, tx.event_time_ms) for tx in txs]),
        b"tmark": day_keys([(tx.terminal_id, tx.event_time_ms) for tx in txs]),
        b"lrec": day_keys([(tx.terminal_id, tx.event_time_ms) for tx in txs if tx.transaction_id in fraud_ids]),
        b"hold": 0,  # every held label was taken by its transaction
        b"csums": len({tx.customer_id for tx in txs}),
        b"tsums": len({tx.terminal_id for tx in txs}),
        b"frauds": len({tx.terminal_id for tx in txs if tx.transaction_id in fraud_ids}),
    }
    assert {kind: sum(kinds.get(kind, 0) for kinds in per_master.values()) for kind in expected} == expected
    totals = {port: sum(kinds.values()) for port, kinds in per_master.items()}
    assert all(total > sum(totals.values()) / 5 for total in totals.values()), totals
    assert all({b"claims", b"csums", b"tsums"} <= kinds.keys() for kinds in per_master.values()), per_master
    await cluster_client.delete(*[key async for key in cluster_client.scan_iter(match=f"{namespace}:*")])


async def _scorer(store: FeatureStore) -> BatchScorer:
    source = MemorySource()
    source.versions = {"1": loaded_model("1")}
    source.aliases = {CHAMPION: "1"}
    holder = ModelHolder(source, hold_challenger=False)
    await holder.start()
    return BatchScorer(store, holder, Thresholds(), clock=lambda: EXAMPLE_NOW)


async def test_the_scorer_feature_path_on_a_cluster(
    redis_cluster: LocalRedisCluster, cluster_client: RedisCluster, unique: str, tmp_path: Path
) -> None:
    namespace = f"test-{unique}-fs"
    settings = Settings(data_dir=tmp_path, redis_url=redis_cluster.url, redis_cluster=True, redis_namespace=namespace)
    store = open_feature_store(settings)
    assert isinstance(store._client, RedisCluster)
    base = example_transaction()
    transactions: list[Transaction] = [
        base.model_copy(
            update={
                "transaction_id": f"tx{i}",
                "customer_id": f"card {i % 23}",
                "terminal_id": f"term {i % 41}",
                "event_time": base.event_time + timedelta(minutes=7 * i),
                "amount": 1.0 + i % 90,
            }
        )
        for i in range(900)
    ]
    on_cluster, in_memory = await _scorer(store), await _scorer(MemoryFeatureStore())
    try:
        for start in range(0, len(transactions), 300):
            batch = transactions[start : start + 300]
            for record in (False, True):
                verdicts = await on_cluster.score(batch, record=record)
                assert [v.score for v in verdicts] == [v.score for v in await in_memory.score(batch, record=record)]
                assert on_cluster.last_batch is not None
                assert in_memory.last_batch is not None
                np.testing.assert_array_equal(on_cluster.last_batch[0], in_memory.last_batch[0])
        assert on_cluster.last_batch is not None
        assert on_cluster.last_batch[0][:, 7].max() > 30  # 30-day customer counts grew across batches
    finally:
        await store.close()
        await cluster_client.delete(*[key async for key in cluster_client.scan_iter(match=f"{namespace}:*")])


def _command(node: redis.Redis, *args: object) -> Any:
    """A raw command to one cluster node (``CLUSTER SETSLOT``, ``MIGRATE``...)."""
    return node.execute_command(*args)  # type: ignore[no-untyped-call]


async def test_a_slot_migration_midway_loses_no_count(tmp_path: Path) -> None:
    """A card's bucket slot migrating while a batch is recorded: a call touching a day hash that moved
    fails before any write (store unavailable, ``cluster_resharding``); once the slot has moved, the
    retried batch counts every transaction once (own cluster: the slot is moved for good)."""
    ports = free_cluster_ports(3)
    cluster = LocalRedisCluster(tmp_path / "cluster", ports)
    cluster.start()
    nodes = {port: redis.Redis(port=port) for port in ports}
    try:
        store = RedisFeatureStore(RedisCluster.from_url(cluster.url), namespace="k")
        t = 1_700_000_000_000 // DAY_MS * DAY_MS
        d0, d1 = t + 3 * DAY_MS, t + 4 * DAY_MS
        await store.record_transactions(
            [TxFacts("a0", "C", "T", d0, 100), TxFacts("a1", "C", "T", d1, 100)], clock_ms=d1
        )
        moved = f"k:cmark:{bucket_tag(bucket_of(b'C')).decode()}:{d0 // DAY_MS}".encode()
        slot = key_slot(moved)
        ids = {port: _command(node, "CLUSTER MYID").decode() for port, node in nodes.items()}
        source = next(port for port, node in nodes.items() if _command(node, "CLUSTER COUNTKEYSINSLOT", slot))
        target = next(port for port in ports if port != source)
        _command(nodes[target], "CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
        _command(nodes[source], "CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
        _command(nodes[source], "MIGRATE", "127.0.0.1", target, moved, 0, 5000)
        batch = [TxFacts("b1", "C", "T", d1 + 1000, 100), TxFacts("b0", "C", "T", d0 + 1000, 100)]
        with pytest.raises(FeatureStoreUnavailable) as refused:
            await store.record_transactions(batch, clock_ms=d1)
        assert refused.value.kind == "cluster_resharding"
        for key in _command(nodes[source], "CLUSTER GETKEYSINSLOT", slot, 100):
            _command(nodes[source], "MIGRATE", "127.0.0.1", target, key, 0, 5000)
        for node in nodes.values():
            _command(node, "CLUSTER SETSLOT", slot, "NODE", ids[target])
        await store.close()
        store = RedisFeatureStore(RedisCluster.from_url(cluster.url), namespace="k")
        await store.record_transactions(batch, clock_ms=d1)
        [probe] = counts_only(await store.peek_transactions([TxFacts("p", "C", "T", d1 + 5000, 1)], clock_ms=d1))
        assert probe.customer_count[1] == 5  # a0 a1 b0 b1 and the probe
        await store.close()
    finally:
        for node in nodes.values():
            node.close()
        cluster.stop()
