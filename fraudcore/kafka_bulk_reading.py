"""Reading topic ranges in bulk with librdkafka (confluent-kafka), for the trainer's catch-up and the
backtest: partitions assigned, no consumer group joined, nothing committed.

aiokafka builds a Python record object per message in Python; ``Consumer.consume(num_messages)`` hands
a batch over from C, where librdkafka has fetched it ahead in its own threads. A read is planned as one
:class:`OffsetRange` ``[start, end)`` per partition: ``start`` is a given position, else the first
offset at or after a timestamp (offsets-for-times), else the partition's beginning; ``end`` is its end
as of the planning (records appended later are left for the next read). :meth:`BulkReader.read` returns
the next values of the assigned ranges as one :class:`ValueBatch` per partition, with their offsets.
Partitions can be paused and resumed (the trainer's label pacing). A read that makes no progress for
``stall_s`` raises :class:`KafkaReadError` naming the partitions and librdkafka's last error; an
unreachable broker is reported after ``timeout_s``, its repeated connection errors logged once per
half minute. Every call blocks: async callers run it in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Self

import numpy as np
import numpy.typing as npt
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from fraudcore.kafka_security import TLS_VARIABLES, KafkaSecurityError, librdkafka_config
from fraudcore.local.errors import InfraError
from fraudcore.log_throttle import RepeatFilter
from fraudcore.settings import Settings

__all__ = [
    "BulkReader",
    "KafkaReadError",
    "MissingTopicError",
    "OffsetRange",
    "PartitionKey",
    "ValueBatch",
]

log = logging.getLogger(__name__)
_librdkafka_log = logging.getLogger(f"{__name__}.librdkafka")
_librdkafka_log.addFilter(RepeatFilter(30.0))

PartitionKey = tuple[str, int]
"""A partition as ``(topic, partition number)``."""

_CONSUME_WAIT_S: Final = 0.5

_PREFETCH_KBYTES: Final = 128 * 1024
_PREFETCH_MESSAGES: Final = 1_000_000
_FETCH_WAIT_MS: Final = 10
"""librdkafka fetches ahead until a partition's local queue holds ``_PREFETCH_MESSAGES`` records (its
default, 100,000, has it stop and wait, about 180,000 records/s here) or the consumer's queues
``_PREFETCH_KBYTES``, and a fetch waits at most ``_FETCH_WAIT_MS`` for data: about 650,000 records/s on
this project's 2-core machine against 180,000 with the defaults (BENCHMARKS.md, "Bulk reading").
The prefetched records are freed when the reader closes, before the trainer builds its features."""
"""How long one consume call waits for a full batch."""


class KafkaReadError(InfraError):
    """The topics cannot be read (broker unreachable, credentials refused, the read stalled)."""


class MissingTopicError(KafkaReadError):
    """A topic to read does not exist."""


@dataclass(frozen=True)
class OffsetRange:
    """The offsets ``[start, end)`` to read from one partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def key(self) -> PartitionKey:
        return self.topic, self.partition

    def __len__(self) -> int:
        """The records in the range at most (compaction and transaction markers leave gaps)."""
        return max(0, self.end - self.start)


@dataclass(frozen=True)
class ValueBatch:
    """Consecutive records of one partition: their values and offsets."""

    topic: str
    partition: int
    values: list[bytes | None]
    offsets: npt.NDArray[np.int64]

    @property
    def key(self) -> PartitionKey:
        return self.topic, self.partition

    @property
    def first_offset(self) -> int:
        return int(self.offsets[0])

    @property
    def next_offset(self) -> int:
        """The offset after the batch's last record."""
        return int(self.offsets[-1]) + 1

    def __len__(self) -> int:
        return len(self.values)


class BulkReader:
    """A group-less librdkafka consumer over planned offset ranges (close it, or use it as a context)."""

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str = "fraudstream-reader",
        batch_records: int = 20_000,
        stall_s: float = 60.0,
        timeout_s: float = 30.0,
        prefetch_kbytes: int = _PREFETCH_KBYTES,
    ) -> None:
        self.bootstrap = settings.bootstrap_servers
        self.batch_records = batch_records
        self.stall_s = stall_s
        self.timeout_s = timeout_s
        self._last_error: KafkaError | None = None
        config: dict[str, object] = librdkafka_config(settings) | {
            "client.id": client_id,
            "group.id": client_id,  # required by the client; never joined (assign only) nor committed to
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "isolation.level": "read_uncommitted",  # as the aiokafka consumers: the same records, the same ends
            "auto.offset.reset": "earliest",
            "fetch.message.max.bytes": 8 * 1024 * 1024,
            "queued.max.messages.kbytes": prefetch_kbytes,
            "queued.min.messages": _PREFETCH_MESSAGES,
            "fetch.wait.max.ms": _FETCH_WAIT_MS,
            "reconnect.backoff.ms": 500,
            "reconnect.backoff.max.ms": 10_000,
            "error_cb": self._on_error,
            "logger": _librdkafka_log,
        }
        self._in_use = threading.Lock()
        """Held by :meth:`read` and :meth:`close`: a caller cancelled while a read runs in a thread
        (Ctrl-C under ``asyncio.to_thread``) closes the client only once that read returned."""
        try:
            self._consumer = Consumer(config)
        except KafkaException as error:
            raise KafkaSecurityError(
                f"cannot configure the Kafka client from {TLS_VARIABLES}: {error.args[0].str()}"
            ) from None
        self._ends: dict[PartitionKey, int] = {}
        self._positions: dict[PartitionKey, int] = {}
        self._remaining: set[PartitionKey] = set()
        self._paused: set[PartitionKey] = set()
        self._last_progress = time.monotonic()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave the brokers (idempotent)."""
        with self._in_use, contextlib.suppress(RuntimeError):  # already closed
            self._consumer.close()

    def _on_error(self, error: KafkaError) -> None:
        self._last_error = error
        _librdkafka_log.warning("Kafka client error: %s", error.str())

    def _unreachable(self, doing: str, error: KafkaException) -> KafkaReadError:
        if not self._ends:
            self._consumer.poll(0)  # nothing assigned: only serves the pending error callbacks (their cause)
        cause = self._last_error.str() if self._last_error is not None else error.args[0].str()
        return KafkaReadError(
            f"cannot {doing} from Kafka at {self.bootstrap} within {self.timeout_s:.0f} s: {cause} "
            "(check FRAUD_KAFKA_BOOTSTRAP and the FRAUD_KAFKA_SECURITY_PROTOCOL / SASL / SSL settings)"
        )

    # -- planning ----------------------------------------------------------------------------------

    def partitions(self, topics: Sequence[str], *, required: bool = False) -> list[PartitionKey]:
        """Every partition of ``topics`` in topic then partition order. A topic that does not exist
        contributes none, or raises :class:`MissingTopicError` when ``required``."""
        try:
            metadata = self._consumer.list_topics(timeout=self.timeout_s)
        except KafkaException as error:
            raise self._unreachable("read the topic metadata", error) from None
        found: list[PartitionKey] = []
        for topic in topics:
            described = metadata.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                if required:
                    raise MissingTopicError(f"topic {topic!r} does not exist (check FRAUD_TOPIC_PREFIX)")
                continue
            found.extend((topic, number) for number in sorted(described.partitions))
        return found

    def cluster_id(self) -> str | None:
        """The Kafka cluster's id, as its metadata gives it (``None`` from a broker that gives none)."""
        try:
            metadata = self._consumer.list_topics(timeout=self.timeout_s)
        except KafkaException as error:
            raise self._unreachable("read the cluster metadata", error) from None
        cluster: str | None = metadata.cluster_id
        return cluster

    def ranges(
        self,
        topics: Sequence[str],
        *,
        since_ms: int | None = None,
        starts: Mapping[PartitionKey, int] | None = None,
        required: bool = False,
    ) -> list[OffsetRange]:
        """The range to read of every partition of ``topics``, up to its end now: from the position in
        ``starts`` where one is given, else from the first record stamped at or after ``since_ms``
        (none: an empty range), else from the beginning. A given start outside the partition's
        offsets raises :class:`KafkaReadError` (the topic was recreated or truncated)."""
        keys = self.partitions(topics, required=required)
        starts = starts or {}
        marks = {key: self._watermarks(key) for key in keys}
        timed: dict[PartitionKey, int] = {}
        if since_ms is not None:
            timed = self._offsets_for_time([key for key in keys if key not in starts], since_ms)
        ranges = []
        for key in keys:
            low, high = marks[key]
            if key in starts:
                start = starts[key]
                if not low <= start <= high:
                    raise KafkaReadError(
                        f"cannot read {key[0]}[{key[1]}] from offset {start}: the partition holds offsets "
                        f"{low} to {high} (was the topic recreated or truncated?)"
                    )
            elif since_ms is not None:
                found = timed[key]
                start = high if found < 0 else max(low, found)
            else:
                start = low
            ranges.append(OffsetRange(key[0], key[1], start, high))
        return ranges

    def _watermarks(self, key: PartitionKey) -> tuple[int, int]:
        try:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(*key), timeout=self.timeout_s)
        except KafkaException as error:
            raise self._unreachable(f"read the offsets of {key[0]}[{key[1]}]", error) from None
        return int(low), int(high)

    def _offsets_for_time(self, keys: list[PartitionKey], since_ms: int) -> dict[PartitionKey, int]:
        if not keys:
            return {}
        asked = [TopicPartition(topic, number, max(0, since_ms)) for topic, number in keys]
        try:
            found = self._consumer.offsets_for_times(asked, timeout=self.timeout_s)
        except KafkaException as error:
            raise self._unreachable("look offsets up by time", error) from None
        return {(tp.topic, tp.partition): tp.offset for tp in found}  # negative: no such record

    # -- reading -----------------------------------------------------------------------------------

    def assign(self, ranges: Iterable[OffsetRange]) -> None:
        """Read these ranges (the empty ones are done at once); replaces any earlier assignment."""
        ranges = list(ranges)
        self._ends = {r.key: r.end for r in ranges}
        self._positions = {r.key: r.start for r in ranges}
        self._remaining = {r.key for r in ranges if r.start < r.end}
        self._paused = set()
        self._consumer.assign(
            [TopicPartition(r.topic, r.partition, r.start) for r in ranges if r.key in self._remaining]
        )
        self._last_progress = time.monotonic()

    @property
    def remaining(self) -> frozenset[PartitionKey]:
        """The assigned partitions whose end is not reached yet."""
        return frozenset(self._remaining)

    @property
    def done(self) -> bool:
        return not self._remaining

    def position(self, key: PartitionKey) -> int:
        """The next offset to read of an assigned partition."""
        return self._positions[key]

    def pause(self, key: PartitionKey) -> None:
        """Stop delivering this partition until :meth:`resume` (reading goes on from its position)."""
        if key in self._remaining and key not in self._paused:
            self._consumer.pause([TopicPartition(*key)])
            self._paused.add(key)

    def resume(self, key: PartitionKey) -> None:
        if key in self._paused:
            self._paused.discard(key)
            self._consumer.resume([TopicPartition(*key)])
            self._last_progress = time.monotonic()

    def read(self) -> list[ValueBatch]:
        """The next records of the unpaused remaining partitions, one batch per partition (none when
        every remaining partition is paused or done). Raises :class:`KafkaReadError` when the read made
        no progress for ``stall_s``, or on an error the client does not recover from."""
        with self._in_use:
            return self._read()

    def _read(self) -> list[ValueBatch]:
        active = self._remaining - self._paused
        if not active:
            self._last_progress = time.monotonic()
            return []
        messages = self._consumer.consume(self.batch_records, _CONSUME_WAIT_S)
        events = []
        if any(message.error() is not None for message in messages):
            events = [message for message in messages if message.error() is not None]
            messages = [message for message in messages if message.error() is None]
        batches = self._batches(messages)
        progressed = bool(batches)
        for batch in batches:
            self._reached(batch.key, batch.next_offset)
        for event in events:  # after the records: an end-of-partition event follows its partition's last records
            progressed |= self._failed(event.topic(), event.partition(), event.offset(), event.error())
        if progressed:
            self._last_progress = time.monotonic()
        elif time.monotonic() - self._last_progress > self.stall_s:
            self._stalled()
        return batches

    def _batches(self, messages: list[Message]) -> list[ValueBatch]:
        """The records of ``messages`` within their partition's range, one batch per partition. One
        pass per field (librdkafka hands over runs of one partition: the runs are cut with numpy)."""
        if not messages:
            return []
        topics = [message.topic() for message in messages]
        numbers = np.array([message.partition() for message in messages], dtype=np.int64)
        offsets = np.array([message.offset() for message in messages], dtype=np.int64)
        values = [message.value() for message in messages]
        names = {name: code for code, name in enumerate(dict.fromkeys(topics))}
        keys = numbers * len(names) + np.array([names[name] for name in topics], dtype=np.int64)
        cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(messages)]
        parts: dict[PartitionKey, list[tuple[int, int]]] = {}
        for first, stop in itertools.pairwise(cuts):
            key = (str(topics[first]), int(numbers[first]))
            if key not in self._remaining:
                continue
            end = self._ends[key]
            if offsets[stop - 1] >= end:  # records beyond the planned end: the partition is done
                self._reached(key, end)
                stop = first + int(np.searchsorted(offsets[first:stop], end))
            if stop > first:
                parts.setdefault(key, []).append((first, stop))
        batches = []
        for key, runs in parts.items():
            if len(runs) == 1:
                ((first, stop),) = runs
                batches.append(ValueBatch(key[0], key[1], values[first:stop], offsets[first:stop]))
            else:
                part = list(itertools.chain.from_iterable(values[first:stop] for first, stop in runs))
                numbered = np.concatenate([offsets[first:stop] for first, stop in runs])
                batches.append(ValueBatch(key[0], key[1], part, numbered))
        return batches

    def _failed(self, topic: str | None, number: int | None, offset: int | None, error: KafkaError | None) -> bool:
        """Handle an error event: the end of a partition is progress; a retriable error, or one about no
        partition, is logged (the stall timeout bounds it); any other stops the read."""
        if error is None:
            return False  # a record without a partition: not one of ours
        if error.code() == KafkaError._PARTITION_EOF and topic is not None and number is not None:
            return offset is not None and self._reached((topic, number), offset)
        if topic is None or (error.retriable() and not error.fatal()):
            # retriable, or about no partition of ours (the group.id librdkafka requires has it look up a
            # coordinator it never uses: nothing is joined or committed): logged, the stall timeout bounds it
            self._last_error = error
            _librdkafka_log.warning("Kafka client error: %s", error.str())
            return False
        where = "" if topic is None else f" {topic}[{number}]"
        raise KafkaReadError(f"cannot read{where} from Kafka at {self.bootstrap}: {error.str()}")

    def _reached(self, key: PartitionKey, position: int) -> bool:
        """Move a partition's position (a record's next offset, or an end-of-partition event's
        offset); whether that was progress. A partition whose end is reached is paused and done."""
        if key not in self._remaining or position <= self._positions[key]:
            return False
        self._positions[key] = min(position, self._ends[key])
        if position >= self._ends[key]:
            self._remaining.discard(key)
            self._paused.discard(key)
            self._consumer.pause([TopicPartition(*key)])
        return True

    def _stalled(self) -> None:
        stuck = ", ".join(
            f"{topic}[{number}] at {self._positions[topic, number]} of {self._ends[topic, number]}"
            for topic, number in sorted(self._remaining - self._paused)
        )
        cause = f"; last client error: {self._last_error.str()}" if self._last_error is not None else ""
        raise KafkaReadError(
            f"no records from {stuck} at Kafka {self.bootstrap} for {self.stall_s:.0f} s although their end is "
            f"not reached{cause}"
        )
