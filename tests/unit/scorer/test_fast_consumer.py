"""The batch drain loop on scripted fetches: what becomes committable, and when; what is never delivered."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest_asyncio
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers.aiokafka import Transport
from faust.types import TP
from mode import ServiceT

from scorer.fast_app import FastApp
from scorer.fast_consumer import BatchConsumer
from scorer.scoring import RawMessage

TX0, TX1, OTHER = TP("tx", 0), TP("tx", 1), TP("other", 0)
Fetched = dict[TP, list[ConsumerRecord[bytes, bytes]]]


def _records(tp: TP, *offsets: int) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(tp.topic, tp.partition, offset, 1_700_000_000_000, 0, b"k", b"v", None, 1, 1, ())
        for offset in offsets
    ]


class Fetcher:
    """Stands for Faust's fetcher service: the drain loop runs until it is stopped."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()


class Rig:
    """A :class:`BatchConsumer` (never connected) whose fetches return scripted records."""

    def __init__(self, tmp_path: Path, *, max_batch: int = 2, within_s: float = 60.0) -> None:
        self.app = FastApp(
            "rig",
            broker="kafka://127.0.0.1:1",
            store="memory://",
            web_enabled=False,
            datadir=str(tmp_path),
            fetch_max_wait_ms=7,
        )
        self.batches: list[list[RawMessage]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.fail_on: int | None = None
        topic = self.app.topic("tx", key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        self.app.route_batches(topic, self.handle, max_batch=max_batch, within_s=within_s)
        self.consumer: BatchConsumer = self.app.consumer  # type: ignore[assignment]
        self.fetches: deque[Fetched | Callable[[], Fetched]] = deque()
        self.fetched = asyncio.Event()
        self.commits = 0
        self.crashes: list[BaseException] = []
        self.seeks = 0
        self.unrouted: list[int] = []
        self.fetcher = Fetcher()
        consumer: Any = self.consumer
        consumer._wait_next_records = self._fetch
        consumer.highwater = lambda tp: 1000
        consumer.commit = self._commit
        consumer.perform_seek = self._seek
        consumer.callback = self._callback
        app: Any = self.app
        app.crash = self._crash
        self.active = {TX0, TX1, OTHER}

    async def handle(self, messages: Sequence[RawMessage]) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append(list(messages))
        if self.fail_on is not None and len(self.batches) == self.fail_on:
            raise RuntimeError("scoring failed")

    async def _fetch(self, _timeout_s: float) -> tuple[Fetched, set[TP]]:
        if not self.consumer.flow_active:  # as Faust's _wait_next_records
            await self.consumer.can_resume_flow.wait()
        await asyncio.sleep(0.001)
        if not self.fetches:
            self.fetched.set()
            return {}, self.active
        step = self.fetches.popleft()
        return (step() if callable(step) else step), self.active

    async def _commit(self, *args: Any, **kwargs: Any) -> bool:
        self.commits += 1
        return True

    async def _seek(self) -> None:
        self.seeks += 1

    async def _callback(self, message: Any) -> None:
        self.unrouted.append(message.offset)

    async def _crash(self, exc: BaseException) -> None:
        self.crashes.append(exc)

    async def run(self, settle_s: float = 0.02) -> None:
        """Drain until every scripted fetch was consumed (and due batches delivered), then stop."""
        task = self.drain()
        await asyncio.wait_for(self.fetched.wait(), 5)
        await asyncio.sleep(settle_s)
        self.fetcher._stopped.set()
        await asyncio.wait_for(task, 5)

    def drain(self) -> asyncio.Future[None]:
        """Start the consumer's drain loop, as Faust's fetcher does."""
        return asyncio.ensure_future(self.consumer._drain_messages(cast(ServiceT, self.fetcher)))

    def close(self) -> None:
        thread: Any = self.consumer._thread
        thread.thread_loop.close()  # created with the consumer, never run here

    def committable(self) -> dict[TP, int | None]:
        consumer = self.consumer
        return {tp: consumer._new_offset(tp) for tp in consumer._filter_tps_with_pending_acks()}


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = Rig(tmp_path)  # in the test's loop, as Faust creates its consumer in the worker's loop
    yield rig
    rig.close()


def _offsets(batches: list[list[RawMessage]]) -> list[list[tuple[int, int]]]:
    return [[(m.partition, m.offset) for m in batch] for batch in batches]


async def test_the_kafka_consumer_waits_for_records_as_configured_not_faust_fixed_1500_ms(rig: Rig) -> None:
    created = rig.consumer._thread._create_worker_consumer(cast(Transport, rig.app.transport))
    try:
        assert created._fetch_max_wait_ms == 7
    finally:
        await created.stop()


async def test_full_batches_go_to_the_handler_and_their_positions_become_committable(rig: Rig) -> None:
    rig.fetches.append({TX0: _records(TX0, 0, 1, 2), TX1: _records(TX1, 5)})
    await rig.run()
    assert _offsets(rig.batches) == [[(0, 0), (0, 1)], [(0, 2), (1, 5)]]
    assert rig.committable() == {TX0: 3, TX1: 6}
    assert rig.batches[0][0].timestamp_ms == 1_700_000_000_000


async def test_every_commit_every_records_a_commit_starts_without_holding_up_delivery(rig: Rig) -> None:
    rig.consumer._commit_every = 4  # Faust's broker_commit_every
    rig.fetches.append({TX0: _records(TX0, 0, 1, 2, 3, 4, 5, 6, 7, 8)})
    await rig.run()
    assert len(rig.batches) == 4
    assert rig.commits == 2


async def test_a_partial_batch_waits_for_more_records_until_within_elapsed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_batch=10, within_s=0.2)
    try:
        rig.fetches.extend([{TX0: _records(TX0, 0)}, {TX0: _records(TX0, 1)}])
        task = rig.drain()
        await asyncio.wait_for(rig.fetched.wait(), 5)
        assert rig.batches == []
        await asyncio.sleep(0.3)
        assert _offsets(rig.batches) == [[(0, 0), (0, 1)]]
        rig.fetcher._stopped.set()
        await asyncio.wait_for(task, 5)
    finally:
        rig.close()


async def test_offsets_become_committable_only_after_the_handler_returned(rig: Rig) -> None:
    rig.gate = asyncio.Event()
    rig.fetches.append({TX0: _records(TX0, 0, 1)})
    task = rig.drain()
    await asyncio.wait_for(rig.entered.wait(), 5)
    assert rig.committable() == {}
    waiting = asyncio.ensure_future(rig.consumer.wait_empty())  # a rebalance (or shutdown) waits for the batch
    await asyncio.sleep(0.05)
    assert not waiting.done()
    rig.gate.set()
    await asyncio.wait_for(waiting, 5)
    assert rig.committable() == {TX0: 2}
    assert rig.commits == 1  # Faust's wait_empty commits once the batch is done
    rig.fetcher._stopped.set()
    await asyncio.wait_for(task, 5)


async def test_a_failing_batch_crashes_the_app_and_nothing_after_it_is_delivered(rig: Rig) -> None:
    rig.fail_on = 2
    rig.fetches.extend([{TX0: _records(TX0, 0, 1, 2, 3)}, {TX0: _records(TX0, 4, 5)}])
    task = rig.drain()
    await asyncio.wait_for(task, 5)  # the loop ends by itself
    assert _offsets(rig.batches) == [[(0, 0), (0, 1)], [(0, 2), (0, 3)]]
    assert rig.committable() == {TX0: 2}  # the failed batch's offsets never become committable
    assert [str(exc) for exc in rig.crashes] == ["scoring failed"]


async def test_records_fetched_before_a_rebalance_are_never_delivered(rig: Rig) -> None:
    def rebalanced() -> dict[TP, list[ConsumerRecord[bytes, bytes]]]:
        rig.app.consumer_generation_id += 1  # the fetch returned after the generation changed
        rig.consumer._read_offset[TX0] = 0  # and Faust sought back to the committed offset
        return {}

    rig.fetches.extend([{TX0: _records(TX0, 0)}, rebalanced, {TX0: _records(TX0, 0, 1)}])
    await rig.run()
    assert _offsets(rig.batches) == [[(0, 0), (0, 1)]]


async def test_a_fetch_that_raced_a_flow_stop_is_dropped_and_seeks_back(rig: Rig) -> None:
    def stopped() -> dict[TP, list[ConsumerRecord[bytes, bytes]]]:
        rig.consumer.stop_flow()
        return {TX0: _records(TX0, 1)}

    rig.fetches.extend([{TX0: _records(TX0, 0)}, stopped])
    task = rig.drain()
    await asyncio.sleep(0.1)
    assert rig.batches == []
    assert rig.seeks == 1
    rig.fetcher._stopped.set()
    rig.consumer.resume_flow()
    await asyncio.wait_for(task, 5)


async def test_records_before_the_next_offset_to_read_and_of_inactive_partitions_are_skipped(rig: Rig) -> None:
    rig.consumer._read_offset[TX0] = 3  # e.g. set by a seek to the committed offset
    rig.active = {TX0}
    rig.fetches.append({TX0: _records(TX0, 1, 2, 3, 4), TX1: _records(TX1, 0, 1)})
    await rig.run()
    assert _offsets(rig.batches) == [[(0, 3), (0, 4)]]
    assert rig.consumer._read_offset[TX0] == 5


async def test_topics_without_a_route_take_fausts_per_message_path_with_its_gap_bookkeeping(rig: Rig) -> None:
    rig.app.topics.acking_topics.add(OTHER.topic)  # as the conductor does for a subscribed topic
    rig.consumer._read_offset[OTHER] = 5
    rig.fetches.append({OTHER: _records(OTHER, 7, 8, 10)})
    await rig.run()
    assert rig.unrouted == [7, 8, 10]
    assert rig.batches == []
    assert sorted((i.begin, i.end) for i in rig.consumer._gap[OTHER]) == [(5, 8), (9, 11)]


async def test_revoked_partitions_are_forgotten_after_fausts_revocation(rig: Rig) -> None:
    revoked_by_faust: list[set[TP]] = []

    async def on_revoked(revoked: set[TP]) -> None:
        assert rig.committable() == {TX0: 2, TX1: 2}  # still there while Faust commits
        revoked_by_faust.append(revoked)

    consumer: Any = rig.consumer
    consumer._on_partitions_revoked = on_revoked
    rig.fetches.append({TX0: _records(TX0, 0, 1), TX1: _records(TX1, 0, 1)})
    await rig.run()
    await rig.consumer.on_partitions_revoked({TX1})
    assert revoked_by_faust == [{TX1}]
    assert rig.committable() == {TX0: 2}
