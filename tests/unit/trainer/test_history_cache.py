"""The trainer's history cache: a history saved and loaded goes on as the original; a cache that does
not match or fails a check is refused with its reason."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraudcore.features.definition import DEFAULT_SPEC
from schemas.events import Label, Transaction
from schemas.examples import example_label, example_transaction
from trainer import history_cache
from trainer.history import COUNTERS, History, Snapshot
from trainer.history_cache import (
    CURRENT,
    FORMAT_VERSION,
    LABELS,
    MANIFEST,
    TRANSACTIONS,
    TRANSACTIONS_SCHEMA,
    CacheBusy,
    CacheIdentity,
    CacheKey,
    CacheRefused,
    HistoryCache,
    Refusal,
    check_positions,
)

KEY = CacheKey(b"k" * 32, "key-one")
IDENTITY = CacheIdentity("transactions", "labels", DEFAULT_SPEC.digest, 60, "cluster-a")
POSITIONS = {("transactions", 0): 40, ("transactions", 1): 12, ("labels", 0): 7}
MAX_HELD = 1_000


def _tx(index: int, days: float, customer: str = "", prefix: str = "tx") -> Transaction:
    base = example_transaction()
    return base.model_copy(
        update={
            "transaction_id": f"{prefix}{index}",
            "event_time": base.event_time + timedelta(days=days),
            "customer_id": customer or f"c{index % 5}",
            "terminal_id": f"t{index % 3}",
        }
    )


def _label(index: int, days: float, is_fraud: bool = True) -> Label:
    base = example_transaction()
    return example_label().model_copy(
        update={
            "transaction_id": f"tx{index}",
            "is_fraud": is_fraud,
            "labeled_at": base.event_time + timedelta(days=days),
        }
    )


def _history() -> History:
    """A history with something of everything: labels won and corrected, a label before its
    transaction, a held label, a waiting one, a conflict, a stale transaction."""
    history = History(max_held_labels=MAX_HELD)
    history.add_transactions([_tx(i, days=i / 10) for i in range(40)])
    history.add_transaction(_tx(3, days=9, customer="other"))  # a conflict
    history.add_transaction(_tx(99, days=-200))  # stale
    history.add_labels([_label(1, days=2.2), _label(2, days=2.3, is_fraud=False), _label(2, days=2.4)])
    history.add_labels([_label(4, days=0.1)])  # before its transaction (day 0.4): kept, left out of snapshots
    history.add_labels([_label(500, days=2.2)])  # its transaction comes later: held
    history.add_labels([_label(5, days=30)])  # far ahead of the clock: waiting
    return history


def _more(history: History) -> None:
    """What comes next: the held label's transaction, enough traffic to take the waiting label."""
    history.add_transactions([_tx(500, days=4), *[_tx(1000 + i, days=30 + i / 100, prefix="late") for i in range(40)]])
    history.add_transactions([_tx(2000 + i, days=31, prefix="bulk") for i in range(4_100)])


def assert_same_snapshot(left: Snapshot, right: Snapshot) -> None:
    """Equal columns; customer and terminal codes equal up to their numbering (which follows the
    order of first sight, so it depends on how the history was read)."""
    assert left.transaction_id.equals(right.transaction_id)
    for name in ("event_time_ms", "amount_cents", "scenarios", "labeled_at_ms", "is_fraud"):
        assert np.array_equal(getattr(left, name), getattr(right, name)), name
    assert left.clock_ms == right.clock_ms
    for name in ("customer", "terminal"):
        assert _same_partition(getattr(left, name), getattr(right, name)), name


def _same_partition(left: npt.NDArray[np.int32], right: npt.NDArray[np.int32]) -> bool:
    pairs = set(zip(left.tolist(), right.tolist(), strict=True))
    return len(left) == len(right) and len(pairs) == len(set(left.tolist())) == len(set(right.tolist()))


def _tallies(history: History) -> dict[str, int]:
    return {name: getattr(history, name) for name in COUNTERS} | {
        "held": history.held_labels,
        "waiting": history.waiting_labels,
    }


def test_a_restored_history_equals_the_original_and_goes_on_alike() -> None:
    original = _history()
    restored = History.from_state(original.export_state(), MAX_HELD)
    assert_same_snapshot(restored.snapshot(), original.snapshot())
    assert _tallies(restored) == _tallies(original)
    assert original.held_labels == 1
    assert original.waiting_labels == 1
    assert original.conflicts == 1
    for history in (original, restored):
        _more(history)
    assert _tallies(restored) == _tallies(original)
    assert restored.waiting_labels == 0
    assert restored.held_labels == 0
    assert_same_snapshot(restored.snapshot(), original.snapshot())
    assert restored.add_transaction(_tx(7, days=31)) == original.add_transaction(_tx(7, days=31))
    assert restored.conflicts == original.conflicts == 2


def test_a_saved_cache_loads_back_and_its_parquet_file_is_the_documented_one(tmp_path: Path) -> None:
    original = _history()
    cache = HistoryCache(tmp_path, IDENTITY, KEY)
    first = cache.save(original.export_state(), POSITIONS)
    _more(original)
    folder = cache.save(original.export_state(), POSITIONS | {("labels", 1): 3})
    assert not first.exists()  # older caches go
    assert os.readlink(tmp_path / CURRENT) == folder.name
    loaded = cache.load(DEFAULT_SPEC, MAX_HELD)
    assert loaded is not None
    assert loaded.positions == POSITIONS | {("labels", 1): 3}
    assert_same_snapshot(loaded.history.snapshot(), original.snapshot())
    assert _tallies(loaded.history) == _tallies(original)

    table = pq.read_table(tmp_path / CURRENT / TRANSACTIONS)  # what another engine sees
    assert table.schema.equals(TRANSACTIONS_SCHEMA)
    snapshot = original.snapshot()
    assert table.num_rows == len(snapshot)
    rows = table.sort_by([("event_time", "ascending"), ("transaction_id", "ascending")])
    assert rows.column("transaction_id").combine_chunks().equals(snapshot.transaction_id)
    assert rows.column("event_time").cast(pa.int64()).to_pylist() == snapshot.event_time_ms.tolist()
    fraud = rows.filter(rows.column("is_fraud")).column("transaction_id").to_pylist()
    assert fraud == ["tx1", "tx2", "tx4", "tx5", "tx500"]  # tx4's and tx500's labels are before them
    assert rows.column("customer_id").to_pylist()[:3] == ["c0", "c1", "c2"]


def _save(tmp_path: Path, key: CacheKey | None = KEY) -> HistoryCache:
    cache = HistoryCache(tmp_path, IDENTITY, key)
    cache.save(_history().export_state(), POSITIONS)
    return cache


def _edit_manifest(tmp_path: Path, edit: Callable[[dict[str, Any]], None], key: CacheKey | None = None) -> None:
    """Change the manifest; with ``key``, sign it again (what a holder of the key could do)."""
    path = tmp_path / CURRENT / MANIFEST
    signed = json.loads(path.read_bytes())
    edit(signed["manifest"])
    if key is not None:
        body = msgspec.json.encode(signed["manifest"], order="sorted")
        signed["hmac_sha256"] = hmac.new(key.secret, body, hashlib.sha256).hexdigest()
    path.write_text(json.dumps(signed))


def _replace_file(tmp_path: Path, name: str, table: pa.Table) -> None:
    """Write ``table`` as the cache's file ``name`` and re-sign the manifest with its digest."""
    path = tmp_path / CURRENT / name
    pq.write_table(table, path)
    data = path.read_bytes()

    def edit(manifest: dict[str, Any]) -> None:
        for entry in manifest["files"]:
            if entry["name"] == name:
                entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
        manifest["transactions"] = pq.read_metadata(tmp_path / CURRENT / TRANSACTIONS).num_rows

    _edit_manifest(tmp_path, edit, KEY)


def _refusal(cache: HistoryCache) -> Refusal:
    with pytest.raises(CacheRefused) as refused:
        cache.load(DEFAULT_SPEC, MAX_HELD)
    return refused.value.reason


def test_no_cache_yet_is_none(tmp_path: Path) -> None:
    assert HistoryCache(tmp_path / "absent", IDENTITY, KEY).load(DEFAULT_SPEC, MAX_HELD) is None


@pytest.mark.parametrize(
    ("identity", "reason"),
    [
        (replace(IDENTITY, transactions_topic="other"), Refusal.TOPICS),
        (replace(IDENTITY, definition="0123456789abcdef"), Refusal.DEFINITION),
        (replace(IDENTITY, horizon_days=61), Refusal.HORIZON),
        (replace(IDENTITY, cluster_id="cluster-b"), Refusal.CLUSTER),
        (replace(IDENTITY, cluster_id=None), Refusal.CLUSTER),
    ],
)
def test_a_cache_written_for_other_topics_cluster_definition_or_a_shorter_horizon_is_refused(
    tmp_path: Path, identity: CacheIdentity, reason: Refusal
) -> None:
    _save(tmp_path)
    assert _refusal(HistoryCache(tmp_path, identity, KEY)) is reason


def test_a_cache_of_a_longer_horizon_is_taken(tmp_path: Path) -> None:
    _save(tmp_path)
    shorter = replace(IDENTITY, horizon_days=30)
    assert HistoryCache(tmp_path, shorter, KEY).load(DEFAULT_SPEC, MAX_HELD) is not None


def test_another_format_version_is_refused(tmp_path: Path) -> None:
    cache = _save(tmp_path)
    _edit_manifest(tmp_path, lambda manifest: manifest.update(format=FORMAT_VERSION + 1), KEY)
    assert _refusal(cache) is Refusal.FORMAT


@pytest.mark.parametrize(
    ("written_with", "read_with"),
    [(KEY, CacheKey(b"x" * 32, "key-two")), (KEY, CacheKey(b"x" * 32, "key-one")), (KEY, None), (None, KEY)],
)
def test_a_cache_of_another_key_or_without_one_is_refused(
    tmp_path: Path, written_with: CacheKey | None, read_with: CacheKey | None
) -> None:
    _save(tmp_path, written_with)
    assert _refusal(HistoryCache(tmp_path, IDENTITY, read_with)) is Refusal.INTEGRITY


def test_an_edited_manifest_or_file_fails_the_integrity_check(tmp_path: Path) -> None:
    cache = _save(tmp_path)
    _edit_manifest(tmp_path, lambda manifest: manifest["positions"][0].update(offset=1))
    assert _refusal(cache) is Refusal.INTEGRITY

    _save(tmp_path)
    path = tmp_path / CURRENT / TRANSACTIONS
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    assert _refusal(cache) is Refusal.INTEGRITY

    _save(tmp_path, None)  # without a key the digests still catch a damaged file
    (tmp_path / CURRENT / LABELS).write_bytes(b"PAR1")
    assert _refusal(HistoryCache(tmp_path, IDENTITY, None)) is Refusal.INTEGRITY


def test_signed_columns_a_history_cannot_hold_are_refused(tmp_path: Path) -> None:
    cache = _save(tmp_path)
    table = pq.read_table(tmp_path / CURRENT / TRANSACTIONS)
    twice = pa.concat_tables([table, table.slice(0, 1)])
    _replace_file(tmp_path, TRANSACTIONS, twice)
    assert _refusal(cache) is Refusal.CONTENT

    _save(tmp_path)
    renamed = table.rename_columns([*table.column_names[:-1], "fraud"])
    _replace_file(tmp_path, TRANSACTIONS, renamed)
    assert _refusal(cache) is Refusal.UNREADABLE

    _save(tmp_path)
    _edit_manifest(tmp_path, lambda manifest: manifest["counters"].update(conflicts=-1), KEY)
    assert _refusal(cache) is Refusal.CONTENT


def test_a_current_link_out_of_the_folder_or_garbage_is_unreadable(tmp_path: Path) -> None:
    cache = _save(tmp_path)
    (tmp_path / CURRENT).unlink()
    (tmp_path / CURRENT).symlink_to("/etc")
    assert _refusal(cache) is Refusal.UNREADABLE

    _save(tmp_path)
    (tmp_path / CURRENT / MANIFEST).write_bytes(b"\x00not json")
    assert _refusal(cache) is Refusal.UNREADABLE


def test_positions_must_lie_within_the_partitions() -> None:
    beginnings = {("transactions", 0): 0, ("transactions", 1): 5, ("labels", 0): 0}
    ends = {("transactions", 0): 40, ("transactions", 1): 20, ("labels", 0): 7}
    check_positions(POSITIONS, beginnings, ends)
    for positions, message in [
        (POSITIONS | {("transactions", 0): 41}, "beyond its end"),
        (POSITIONS | {("transactions", 1): 4}, "before its beginning"),
        (POSITIONS | {("labels", 1): 0}, "no longer exists"),
    ]:
        with pytest.raises(CacheRefused, match=message) as refused:
            check_positions(positions, beginnings, ends)
        assert refused.value.reason is Refusal.POSITIONS


def _within(call: Callable[[], object], seconds: float = 10.0) -> object:
    """What ``call`` returns or raises, asserting it does not block (it runs in a daemon thread)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test to check
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for over {seconds} s"
    return outcome[0]


def _reason(cache: HistoryCache) -> Refusal:
    refused = _within(lambda: cache.load(DEFAULT_SPEC, MAX_HELD))
    assert isinstance(refused, CacheRefused), refused
    return refused.reason


@pytest.mark.parametrize("name", [MANIFEST, TRANSACTIONS])
def test_a_fifo_or_symbolic_link_in_place_of_a_cache_file_is_refused_without_waiting(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "cache"
    cache = _save(folder)
    file = folder / CURRENT / name
    outside = tmp_path / "copy"
    outside.write_bytes(file.read_bytes())
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    file.unlink()
    os.mkfifo(file)
    assert _reason(cache) is Refusal.UNREADABLE
    for target in (fifo, outside):  # a link to a FIFO, or to the very same bytes elsewhere
        file.unlink()
        file.symlink_to(target)
        assert _reason(cache) is Refusal.UNREADABLE


def test_a_cache_folder_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = _save(folder)
    generation = (folder / CURRENT).resolve()
    moved = tmp_path / generation.name
    generation.rename(moved)
    generation.symlink_to(moved)
    assert _reason(cache) is Refusal.UNREADABLE


def test_a_save_does_not_wait_on_a_held_lock_and_skips(tmp_path: Path) -> None:
    cache = HistoryCache(tmp_path, IDENTITY, KEY, lock_wait_s=0.2)
    state = _history().export_state()
    holder = os.open(tmp_path / ".lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert isinstance(_within(lambda: cache.save(state, POSITIONS)), CacheBusy)
    finally:
        os.close(holder)
    assert not (tmp_path / CURRENT).exists()
    assert _within(lambda: cache.save(state, POSITIONS)) == (tmp_path / CURRENT).resolve()


def test_a_planted_lock_fifo_or_link_is_not_followed(tmp_path: Path) -> None:
    cache = HistoryCache(tmp_path / "cache", IDENTITY, KEY, lock_wait_s=0.2)
    state = _history().export_state()
    (tmp_path / "cache").mkdir()
    lock = tmp_path / "cache" / ".lock"
    os.mkfifo(lock)
    assert isinstance(_within(lambda: cache.save(state, POSITIONS)), CacheBusy)
    lock.unlink()
    lock.symlink_to(tmp_path / "planted")
    assert isinstance(_within(lambda: cache.save(state, POSITIONS)), CacheBusy)
    assert not (tmp_path / "planted").exists()
    lock.unlink()
    cache.save(state, POSITIONS)
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_save_removes_older_generations_only_by_their_exact_name(tmp_path: Path) -> None:
    stranger = tmp_path / "history-20261207T201500Z-3f9a0c1e\n"
    tmp_path.mkdir(exist_ok=True)
    stranger.write_text("not ours")
    _save(tmp_path)
    assert stranger.read_text() == "not ours"


def test_a_save_streams_row_groups_in_event_time_order_and_digests_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_cache, "_ROW_GROUP_ROWS", 3)
    original = _history()
    cache = HistoryCache(tmp_path, IDENTITY, KEY)
    cache.save(original.export_state(), POSITIONS)
    path = tmp_path / CURRENT / TRANSACTIONS
    assert pq.read_metadata(path).num_row_groups == -(-len(original) // 3)
    times = pq.read_table(path).column("event_time").cast(pa.int64()).to_pylist()
    assert times == sorted(times)
    data = path.read_bytes()
    [entry] = [
        e
        for e in json.loads((tmp_path / CURRENT / MANIFEST).read_bytes())["manifest"]["files"]
        if e["name"] == TRANSACTIONS
    ]
    assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    loaded = cache.load(DEFAULT_SPEC, MAX_HELD)
    assert loaded is not None
    assert_same_snapshot(loaded.history.snapshot(), original.snapshot())


def test_a_save_that_cannot_switch_current_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / CURRENT / "in the way").mkdir(parents=True)  # os.replace cannot put a link over it
    cache = HistoryCache(tmp_path, IDENTITY, KEY)
    with pytest.raises(IsADirectoryError):
        cache.save(_history().export_state(), POSITIONS)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".lock", CURRENT]
