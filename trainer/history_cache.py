"""The trainer's on-disk history cache: what it read, as Parquet, so a restart reads only new offsets.

Layout of the cache folder (``FRAUD_TRAINER_CACHE_DIR``)::

    current -> history-<UTC time>-<random>     a symbolic link, switched atomically
    history-<UTC time>-<random>/
        transactions.parquet                   one row per transaction held (see TRANSACTIONS_SCHEMA)
        labels.parquet                         labels not joined yet (see LABELS_SCHEMA)
        manifest.json                          what the files are, where reading stopped, their digests

A save writes a new ``history-*`` folder under a temporary name, renames it, then points ``current``
at it and removes the older ones: a reader sees the old cache or the new one, never half of one.

A cache is input from outside the process. :meth:`HistoryCache.load` refuses it
(:class:`CacheRefused`, with a :class:`Refusal` reason) when its format version, topics, Kafka
cluster id, feature definition digest or horizon do not match, when a file is missing or its SHA-256 differs from the
manifest's, when the manifest's HMAC does not verify, or when the columns are not ones a history can
hold; :func:`check_positions` refuses cached positions beyond a partition's end or before its
beginning (a topic recreated or truncated). The HMAC-SHA256 is keyed by a key derived from the model
signing key (:func:`cache_key`), so only a holder of that key can write a cache the trainer takes.
Nothing a writer of the folder plants makes the trainer wait or write elsewhere: files and folders are
opened without following links or blocking (only regular files and real folders are taken), and a save
whose ``.lock`` is not had within a short wait is skipped (:class:`CacheBusy`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives import serialization

from fraudcore.features.definition import FeatureSpec, LabelFacts
from fraudcore.kafka_bulk_reading import PartitionKey
from fraudcore.models.keys import ModelKeyError, signing_key
from fraudcore.models.signing import key_id
from fraudcore.settings import Settings
from trainer.history import COUNTERS, NEVER, History, HistoryState

__all__ = [
    "FORMAT_VERSION",
    "LABELS_SCHEMA",
    "TRANSACTIONS_SCHEMA",
    "CacheBusy",
    "CacheIdentity",
    "CacheKey",
    "CacheRefused",
    "CachedHistory",
    "HistoryCache",
    "Refusal",
    "cache_key",
    "check_positions",
]

FORMAT_VERSION: Final = 2
"""2: the manifest names the Kafka cluster it was read from."""
CURRENT: Final = "current"
TRANSACTIONS: Final = "transactions.parquet"
LABELS: Final = "labels.parquet"
MANIFEST: Final = "manifest.json"
_GENERATION = re.compile(r"history-\d{8}T\d{6}Z-[0-9a-f]{8}")
_LOCK: Final = ".lock"
_READ: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""Opening a cache file: never through a symbolic link, never waiting on a FIFO or device."""
_FOLDER: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
"""Creating a cache file: a new one, in the open folder, never through a symbolic link."""
_LOCK_PAUSE_S: Final = 0.05
_ROW_GROUP_ROWS: Final = 1 << 20
"""Rows per row group of ``transactions.parquet``, and rows sorted and written at a time by a save."""
_MAX_MANIFEST_BYTES: Final = 1 << 20
_MAC_CONTEXT: Final = b"fraudstream trainer history cache"

_UTC_MS = pa.timestamp("ms", tz="UTC")

TRANSACTIONS_SCHEMA: Final = pa.schema(
    [
        pa.field("transaction_id", pa.string(), nullable=False),
        pa.field("event_time", _UTC_MS, nullable=False),
        pa.field("customer_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("terminal_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("amount_cents", pa.int64(), nullable=False),
        pa.field("scenario", pa.int8()),
        pa.field("label_time", _UTC_MS),
        pa.field("is_fraud", pa.bool_()),
    ]
)
"""One row per transaction held, by event time. ``scenario``: the simulated fraud scenario (null when
the event had none); ``label_time`` and ``is_fraud``: the winning label (null: none yet)."""

LABELS_SCHEMA: Final = pa.schema(
    [
        pa.field("transaction_id", pa.string(), nullable=False),
        pa.field("is_fraud", pa.bool_(), nullable=False),
        pa.field("labeled_at", _UTC_MS, nullable=False),
        pa.field("waiting", pa.bool_(), nullable=False),
    ]
)
"""Labels not joined to a row: of transactions not seen yet (``waiting`` false), or dated too far
ahead of the stream clock (``waiting`` true, in the order they are taken)."""


class Refusal(StrEnum):
    """Why a cache was not used."""

    UNREADABLE = "unreadable"
    FORMAT = "format"
    TOPICS = "topics"
    CLUSTER = "cluster"
    DEFINITION = "definition"
    HORIZON = "horizon"
    INTEGRITY = "integrity"
    CONTENT = "content"
    POSITIONS = "positions"


class CacheRefused(Exception):
    """A cache that must not be used, and why."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class CacheBusy(Exception):
    """The cache folder's lock could not be had in time (another save, or a file planted there): no save."""


@dataclass(frozen=True)
class CacheIdentity:
    """What a cache must have been written for."""

    transactions_topic: str
    labels_topic: str
    definition: str
    """The feature definition's digest (:attr:`FeatureSpec.digest`)."""
    horizon_days: int
    cluster_id: str | None = None
    """The Kafka cluster the topics are read from (its metadata's cluster id), once known."""


@dataclass(frozen=True)
class CacheKey:
    """The HMAC key of the cache and the fingerprint of the signing key it comes from."""

    secret: bytes
    key_id: str


@dataclass(frozen=True)
class CachedHistory:
    """A cache that passed every check but the positions' (see :func:`check_positions`)."""

    history: History
    positions: dict[PartitionKey, int]
    path: Path


class _File(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    size: int
    sha256: str


class _Offset(msgspec.Struct, forbid_unknown_fields=True):
    topic: str
    partition: int
    offset: int


class _Manifest(msgspec.Struct, forbid_unknown_fields=True):
    format: int
    written_at: str
    transactions_topic: str
    labels_topic: str
    cluster_id: str | None
    definition: str
    horizon_days: int
    transactions: int
    positions: list[_Offset]
    clock_sample: list[int]
    counters: dict[str, int]
    files: list[_File]
    key_id: str | None


class _Signed(msgspec.Struct, forbid_unknown_fields=True):
    manifest: _Manifest
    hmac_sha256: str | None


class _Format(msgspec.Struct):
    manifest: dict[str, object]


def cache_key(settings: Settings) -> CacheKey | None:
    """The cache's HMAC key, derived from the model signing key (``None`` when the settings name none)."""
    try:
        private = signing_key(settings)
    except ModelKeyError:
        return None
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return CacheKey(hmac.new(raw, _MAC_CONTEXT, hashlib.sha256).digest(), key_id(private))


def check_positions(
    positions: Mapping[PartitionKey, int], beginnings: Mapping[PartitionKey, int], ends: Mapping[PartitionKey, int]
) -> None:
    """:class:`CacheRefused` unless each cached position lies within its partition's offsets now
    (a partition gone, a position beyond the end or before the beginning: the topic was recreated or
    records were deleted before they were read)."""
    for (topic, partition), offset in sorted(positions.items()):
        where = f"{topic} partition {partition}"
        if (topic, partition) not in ends:
            raise CacheRefused(Refusal.POSITIONS, f"{where} no longer exists")
        if offset > ends[topic, partition]:
            raise CacheRefused(
                Refusal.POSITIONS, f"{where}: cached position {offset} is beyond its end {ends[topic, partition]}"
            )
        if offset < beginnings.get((topic, partition), 0):
            raise CacheRefused(
                Refusal.POSITIONS,
                f"{where}: cached position {offset} is before its beginning {beginnings[topic, partition]} "
                "(records deleted before they were read)",
            )


class HistoryCache:
    """Saves and loads a history and its reading positions in ``directory``."""

    def __init__(
        self, directory: Path, identity: CacheIdentity, key: CacheKey | None, lock_wait_s: float = 2.0
    ) -> None:
        self.directory = directory
        self.identity = identity
        self._key = key
        self._lock_wait_s = lock_wait_s

    # -- saving ----------------------------------------------------------------------------------

    def save(self, state: HistoryState, positions: Mapping[PartitionKey, int]) -> Path:
        """Write ``state`` and ``positions`` as the current cache (blocking); its folder.
        :class:`CacheBusy` when the folder's lock cannot be had within the lock wait."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._locked():
            name = f"history-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"
            scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.directory))
            final = self.directory / name
            link = self.directory / f".link-{secrets.token_hex(4)}"
            switched = False
            try:
                with _opened_folder(scratch) as folder:  # written through it: never elsewhere
                    files = [
                        _write(folder, TRANSACTIONS, TRANSACTIONS_SCHEMA, _transactions_slices(state)),
                        _write(folder, LABELS, LABELS_SCHEMA, [_labels_table(state)]),
                    ]
                    _write_bytes(folder, MANIFEST, self._signed(state, positions, files))
                    os.fsync(folder)
                os.rename(scratch, final)
                os.symlink(name, link)
                os.replace(link, self.directory / CURRENT)
                switched = True
                _fsync(self.directory)
            except BaseException:
                if not switched:  # nothing of this save is left behind (a full disk stays no fuller)
                    shutil.rmtree(scratch, ignore_errors=True)
                    shutil.rmtree(final, ignore_errors=True)
                    link.unlink(missing_ok=True)
                raise
            self._remove_all_but(name)
        return final

    def _signed(self, state: HistoryState, positions: Mapping[PartitionKey, int], files: list[_File]) -> bytes:
        identity = self.identity
        manifest = _Manifest(
            format=FORMAT_VERSION,
            written_at=datetime.now(UTC).isoformat(timespec="seconds"),
            transactions_topic=identity.transactions_topic,
            labels_topic=identity.labels_topic,
            cluster_id=identity.cluster_id,
            definition=identity.definition,
            horizon_days=identity.horizon_days,
            transactions=len(state),
            positions=[_Offset(topic, partition, offset) for (topic, partition), offset in sorted(positions.items())],
            clock_sample=list(state.clock_sample),
            counters=dict(state.counters),
            files=files,
            key_id=None if self._key is None else self._key.key_id,
        )
        return msgspec.json.format(msgspec.json.encode(_Signed(manifest, self._mac(manifest)), order="sorted"))

    def _mac(self, manifest: _Manifest) -> str | None:
        if self._key is None:
            return None
        return hmac.new(self._key.secret, msgspec.json.encode(manifest, order="sorted"), hashlib.sha256).hexdigest()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One save at a time in a folder (two trainers sharing it take turns); :class:`CacheBusy`
        when the lock is not had within the lock wait, or ``.lock`` is not a regular file of its own."""
        path = self.directory / _LOCK
        try:
            descriptor = os.open(path, _READ | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CacheBusy(f"{path}: {_why(exc)}") from None
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise CacheBusy(f"{path} is not a regular file")
            deadline = time.monotonic() + self._lock_wait_s
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise CacheBusy(f"{path} is locked by another process for over {self._lock_wait_s} s") from None
                    time.sleep(_LOCK_PAUSE_S)
            yield
        finally:
            os.close(descriptor)

    def _remove_all_but(self, name: str) -> None:
        for path in self.directory.iterdir():
            if path.name != name and (_GENERATION.fullmatch(path.name) or path.name.startswith((".tmp-", ".link-"))):
                if path.is_symlink() or not path.is_dir():
                    path.unlink(missing_ok=True)
                else:
                    shutil.rmtree(path, ignore_errors=True)

    # -- loading ---------------------------------------------------------------------------------

    def load(self, spec: FeatureSpec, max_held_labels: int) -> CachedHistory | None:
        """The cached history and positions (``None``: no cache yet); :class:`CacheRefused` when
        the cache does not match or fails a check (see the module docstring). Blocking."""
        link = self.directory / CURRENT
        if not link.is_symlink():
            if link.exists():
                raise CacheRefused(Refusal.UNREADABLE, f"{link} is not a symbolic link")
            return None
        target = os.readlink(link)
        if not _GENERATION.fullmatch(target):
            raise CacheRefused(Refusal.UNREADABLE, f"{link} points at {target!r}, not a cache folder of this one")
        folder = self.directory / target
        with _opened_folder(folder) as descriptor:
            manifest = self._manifest(_read(descriptor, folder / MANIFEST, _MAX_MANIFEST_BYTES))
            contents = {entry.name: entry for entry in manifest.files}
            if set(contents) != {TRANSACTIONS, LABELS}:
                raise CacheRefused(Refusal.UNREADABLE, f"the manifest lists {sorted(contents)}")
            transactions = _table(
                _verified(descriptor, folder / TRANSACTIONS, contents[TRANSACTIONS]), TRANSACTIONS_SCHEMA
            )
            labels = _table(_verified(descriptor, folder / LABELS, contents[LABELS]), LABELS_SCHEMA)
        if transactions.num_rows != manifest.transactions:
            raise CacheRefused(
                Refusal.CONTENT, f"{transactions.num_rows:,} rows, the manifest says {manifest.transactions:,}"
            )
        try:
            history = History.from_state(_state(manifest, transactions, labels), max_held_labels, spec)
        except ValueError as exc:
            raise CacheRefused(Refusal.CONTENT, str(exc)) from None
        positions = {(entry.topic, entry.partition): entry.offset for entry in manifest.positions}
        return CachedHistory(history, positions, folder)

    def _manifest(self, data: bytes) -> _Manifest:
        try:
            version = msgspec.json.decode(data, type=_Format).manifest.get("format")
        except msgspec.DecodeError as exc:
            raise CacheRefused(Refusal.UNREADABLE, f"the manifest is not readable: {exc}") from None
        if version != FORMAT_VERSION:
            raise CacheRefused(Refusal.FORMAT, f"format {version!r}, this trainer reads {FORMAT_VERSION}")
        try:
            signed = msgspec.json.decode(data, type=_Signed)
        except msgspec.DecodeError as exc:
            raise CacheRefused(Refusal.UNREADABLE, f"the manifest is not readable: {exc}") from None
        manifest = signed.manifest
        self._verify(manifest, signed.hmac_sha256)
        identity = self.identity
        topics = (manifest.transactions_topic, manifest.labels_topic)
        ours = (identity.transactions_topic, identity.labels_topic)
        if topics != ours:
            raise CacheRefused(Refusal.TOPICS, f"written for topics {topics}, this trainer reads {ours}")
        if manifest.cluster_id != identity.cluster_id:
            raise CacheRefused(
                Refusal.CLUSTER,
                f"read from Kafka cluster {manifest.cluster_id}, this trainer reads cluster {identity.cluster_id}",
            )
        if manifest.definition != identity.definition:
            raise CacheRefused(
                Refusal.DEFINITION,
                f"written for feature definition {manifest.definition}, this trainer's is {identity.definition}",
            )
        if manifest.horizon_days < identity.horizon_days:
            raise CacheRefused(
                Refusal.HORIZON,
                f"holds a horizon of {manifest.horizon_days} days, this trainer needs {identity.horizon_days}",
            )
        seen = {(entry.topic, entry.partition) for entry in manifest.positions}
        if len(seen) != len(manifest.positions) or not all(
            entry.topic in topics and entry.partition >= 0 and entry.offset >= 0 for entry in manifest.positions
        ):
            raise CacheRefused(Refusal.CONTENT, "the positions are not one offset per partition of its topics")
        return manifest

    def _verify(self, manifest: _Manifest, mac: str | None) -> None:
        key = self._key
        if key is None:
            if mac is not None:
                raise CacheRefused(
                    Refusal.INTEGRITY, f"signed with key {manifest.key_id}, and this trainer has no signing key"
                )
            return
        if mac is None:
            raise CacheRefused(Refusal.INTEGRITY, f"not signed, and this trainer signs with key {key.key_id}")
        if manifest.key_id != key.key_id:
            raise CacheRefused(
                Refusal.INTEGRITY, f"signed with key {manifest.key_id}, this trainer signs with key {key.key_id}"
            )
        expected = self._mac(manifest)
        if expected is None or not hmac.compare_digest(expected, mac):
            raise CacheRefused(Refusal.INTEGRITY, "the manifest's HMAC does not verify")


def _transactions_slices(state: HistoryState) -> Iterator[pa.Table]:
    """The transactions by event time, as tables of up to :data:`_ROW_GROUP_ROWS` rows: only one
    slice of sorted copies is alive at a time."""
    order = np.argsort(state.event_time_ms, kind="stable")
    customers, terminals = _dictionary(state.customer_id), _dictionary(state.terminal_id)
    for start in range(0, max(len(order), 1), _ROW_GROUP_ROWS):
        part = order[start : start + _ROW_GROUP_ROWS]
        labelled = state.labeled_at_ms[part] != NEVER
        scenarios = state.scenarios[part]
        yield pa.table(
            [
                state.transaction_id.take(part),
                _timestamps(state.event_time_ms[part]),
                customers.take(part),
                terminals.take(part),
                pa.array(state.amount_cents[part], type=pa.int64()),
                pa.array(scenarios, type=pa.int8(), mask=scenarios < 0),
                _timestamps(state.labeled_at_ms[part], mask=~labelled),
                pa.array(state.is_fraud[part], type=pa.bool_(), mask=~labelled),
            ],
            schema=TRANSACTIONS_SCHEMA,
        )


def _labels_table(state: HistoryState) -> pa.Table:
    labels = [*state.held_labels, *state.waiting_labels]
    return pa.table(
        [
            pa.array([label.transaction_id for label in labels], type=pa.string()),
            pa.array([label.is_fraud for label in labels], type=pa.bool_()),
            _timestamps(np.array([label.labeled_at_ms for label in labels], dtype=np.int64)),
            pa.array([False] * len(state.held_labels) + [True] * len(state.waiting_labels), type=pa.bool_()),
        ],
        schema=LABELS_SCHEMA,
    )


def _state(manifest: _Manifest, transactions: pa.Table, labels: pa.Table) -> HistoryState:
    """The history state the tables hold; :class:`CacheRefused` on nulls where none may be."""
    for table in (transactions, labels):
        for field in table.schema:
            if not field.nullable and table.column(field.name).null_count:
                raise CacheRefused(Refusal.CONTENT, f"{field.name} holds nulls")
    label_time, is_fraud = transactions.column("label_time"), transactions.column("is_fraud")
    labelled = _bools(label_time.is_valid())
    if not np.array_equal(labelled, _bools(is_fraud.is_valid())):
        raise CacheRefused(Refusal.CONTENT, "label_time and is_fraud are not null together")
    pending = [
        LabelFacts(tx_id, fraud, at)
        for tx_id, fraud, at in zip(
            labels.column("transaction_id").to_pylist(),
            labels.column("is_fraud").to_pylist(),
            _ints(labels.column("labeled_at")).tolist(),
            strict=True,
        )
    ]
    waiting = labels.column("waiting").to_pylist()
    if waiting != sorted(waiting):
        raise CacheRefused(Refusal.CONTENT, "held labels follow waiting ones")
    if set(manifest.counters) != set(COUNTERS):
        raise CacheRefused(Refusal.CONTENT, f"the tallies are {sorted(manifest.counters)}")
    held = waiting.count(False)
    return HistoryState(
        transaction_id=transactions.column("transaction_id").combine_chunks(),
        customer_id=transactions.column("customer_id").combine_chunks(),
        terminal_id=transactions.column("terminal_id").combine_chunks(),
        event_time_ms=_ints(transactions.column("event_time")),
        amount_cents=_ints(transactions.column("amount_cents")),
        scenarios=np.asarray(transactions.column("scenario").fill_null(-1).to_numpy(), dtype=np.int8),
        labeled_at_ms=np.where(labelled, _ints(label_time), NEVER),
        is_fraud=_bools(is_fraud.fill_null(False)),
        held_labels=tuple(pending[:held]),
        waiting_labels=tuple(pending[held:]),
        clock_sample=tuple(manifest.clock_sample),
        counters=manifest.counters,
    )


def _timestamps(ms: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    return pa.array(ms, type=pa.int64(), mask=mask).cast(_UTC_MS)


def _ints(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Integers (timestamps as epoch ms), nulls as 0."""
    return np.asarray(column.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)


def _bools(column: pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    return np.asarray(column.to_numpy(), dtype=np.bool_)


def _dictionary(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.cast(pa.dictionary(pa.int32(), pa.string()))
    return column.dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string()))


def _write(folder: int, name: str, schema: pa.Schema, tables: Iterable[pa.Table]) -> _File:
    """Stream ``tables`` as the Parquet file ``name`` (a row group each, at most :data:`_ROW_GROUP_ROWS`
    rows) straight to disk, digesting the bytes as they are written."""
    with os.fdopen(os.open(name, _CREATE, 0o600, dir_fd=folder), "wb") as out:
        sink = _Digesting(out)
        with pq.ParquetWriter(
            sink, schema, compression="zstd", use_dictionary=["customer_id", "terminal_id"]
        ) as writer:
            for table in tables:
                writer.write_table(table, row_group_size=_ROW_GROUP_ROWS)
        out.flush()
        os.fsync(out.fileno())
    return _File(name, sink.size, sink.sha256.hexdigest())


class _Digesting:
    """A write-only file that passes bytes on to ``out`` and keeps their count and SHA-256."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self._out.write(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self.closed = True


def _write_bytes(folder: int, name: str, data: bytes | pa.Buffer) -> None:
    """Write a new file ``name`` in the open ``folder`` (never through a link, never over a file)."""
    with os.fdopen(os.open(name, _CREATE, 0o600, dir_fd=folder), "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _opened_folder(path: Path) -> Iterator[int]:
    """A descriptor of the cache folder ``path``, refused unless it is a real folder (not a symbolic link)."""
    try:
        descriptor = os.open(path, _FOLDER)
    except OSError as exc:
        raise _refused(path, exc) from None
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _read(folder: int, path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path.name`` in the open ``folder``, at most ``limit`` of them;
    a symbolic link, FIFO, device or larger file is refused without waiting on it."""
    try:
        descriptor = os.open(path.name, _READ, dir_fd=folder)
    except OSError as exc:
        raise _refused(path, exc) from None
    try:
        with os.fdopen(descriptor, "rb") as source:
            status = os.fstat(source.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise CacheRefused(Refusal.UNREADABLE, f"{path} is not a regular file")
            if status.st_size > limit:
                raise CacheRefused(Refusal.UNREADABLE, f"{path} is larger than {limit:,} bytes")
            data = source.read(limit + 1)
    except OSError as exc:
        raise _refused(path, exc) from None
    if len(data) > limit:
        raise CacheRefused(Refusal.UNREADABLE, f"{path} is larger than {limit:,} bytes")
    return data


_NOT_A_CACHE_FILE: Final = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENXIO})
"""What a missing or planted file or folder raises: a refusal. Other errors (no permission, an I/O
error) are the machine's, not the cache's, and propagate."""


def _refused(path: Path, exc: OSError) -> CacheRefused:
    if exc.errno not in _NOT_A_CACHE_FILE:
        raise exc
    return CacheRefused(Refusal.UNREADABLE, f"{path}: {_why(exc)}")


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link"
    return exc.strerror or str(exc)


def _verified(folder: int, path: Path, entry: _File) -> bytes:
    """The file's bytes, once they match the manifest's size and digest (parsed from this copy, not re-read)."""
    data = _read(folder, path, entry.size)
    if len(data) != entry.size or not hmac.compare_digest(hashlib.sha256(data).hexdigest(), entry.sha256):
        raise CacheRefused(Refusal.INTEGRITY, f"{path.name} does not match the manifest's size and SHA-256")
    return data


def _table(data: bytes, schema: pa.Schema) -> pa.Table:
    """The Parquet file's table, refused unless it has exactly ``schema``'s columns and types."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # noqa: BLE001 - any failure to parse hostile bytes is a refusal
        raise CacheRefused(Refusal.UNREADABLE, f"not a readable Parquet file: {exc}") from None
    found = [(field.name, field.type) for field in table.schema]
    if found != [(field.name, field.type) for field in schema]:
        raise CacheRefused(Refusal.UNREADABLE, f"columns {found}, expected {[(f.name, f.type) for f in schema]}")
    return table
