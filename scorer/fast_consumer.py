"""A Faust consumer that hands each fetched batch of a routed topic to one coroutine.

Faust's drain loop (``Consumer._drain_messages``) delivers every message on its own: a
``ConsumerMessage``, a ``wait_first`` of two tasks, an ``Event``, a channel queue, a stream
iteration and a per-offset ack. That per-message path caps a worker at a few thousand messages per
second. :class:`BatchConsumer` replaces only the drain loop: the records fetched for a routed topic
become one list handed to the route's handler (up to ``max_batch`` records: at once when
``ready_size`` are pending, else what arrived within ``within_s``), and once the handler returns, the
*position* of each partition in the batch (its last offset + 1) becomes committable. Everything else
is Faust's own: group membership and rebalancing (``on_partitions_revoked/assigned``, flow control,
``perform_seek`` to the committed offsets afterwards), the commit machinery (``commit`` /
``force_commit`` / ``_commit_offsets`` every ``broker_commit_interval``, and every
``broker_commit_every`` records — started beside the drain loop rather than inside it), the consumer
thread and fetcher, the web server and timers. Records of topics without a route still take Faust's
per-message path. One setting differs: the broker's fetch wait (``fetch_max_wait_ms``, fixed at
1,500 ms by Faust) is the app's, a few ms.

Invariants kept:

* At-least-once: a partition's position advances only after the handler returned for a batch
  holding it, so a committed offset never runs ahead of the handler's durable results. A handler
  that raises crashes the app; its batch never becomes committable and nothing after it is
  delivered, so it is redelivered to the next owner of its partitions.
* One batch at a time, in fetch order per partition: positions only grow within a generation.
* Rebalance: ``wait_empty`` (called by Faust before it commits and gives partitions away, and at
  shutdown) first waits for the batch in progress, as Faust waits for unacked events. The handler
  runs shielded from the fetcher's cancellation, so a shutdown lets it finish and commits it.
  Records fetched before a rebalance (another generation, flow stopped, partition no longer active)
  are never delivered: Faust seeks to the committed offsets afterwards and they are fetched again.
  Positions of revoked partitions are forgotten once Faust committed them.
* Back-pressure: the drain loop awaits the handler, so no new batch is taken while one is in
  progress (the runtime retries a batch while Redis is away: consumption pauses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from time import monotonic
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from faust.types import TP
from faust.types.transports import TPorTopicSet
from mode import Service, ServiceT

from scorer.fast_batches import Batch, PendingRecords, Route, raw_messages

__all__ = ["BatchConsumer"]

_IDLE_FETCH_TIMEOUT_S = 1.0


class _ShortFetchWaitThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, with the fetch wait of its consumer (:attr:`BatchConsumer.fetch_max_wait_ms`)
    instead of Faust's fixed 1,500 ms: with partitions of idle topics in every fetch, that wait stalled
    the busy ones for up to 1.5 s at a time."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer: AIOKafkaConsumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast(BatchConsumer, self.consumer).fetch_max_wait_ms  # read at start()
        return consumer


class BatchConsumer(Consumer):
    """Faust's aiokafka consumer with a batch drain loop for the routed topics (see the module doc)."""

    def __init__(self, *args: Any, routes: Mapping[str, Route], fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)
        self._routes = dict(routes)
        self._pending = {topic: PendingRecords() for topic in self._routes}
        self._positions: dict[TP, int] = {}
        self._inflight: asyncio.Future[None] | None = None
        self._committing: asyncio.Future[bool] | None = None
        self._failed: BaseException | None = None

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _ShortFetchWaitThread(self, loop=self.loop, beacon=self.beacon)

    # -- the drain loop -------------------------------------------------------------------------

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's fetcher task: fetch, route, deliver due batches; Faust's error handling."""
        fetcher_stopped = cast(Service, fetcher)._stopped.is_set
        try:
            while not (self.should_stop or fetcher_stopped() or self._failed):
                records, active = await self._wait_next_records(self._fetch_timeout())
                if self.should_stop:
                    return
                if not self.flow_active:  # as Faust's getmany: the fetch raced a rebalance
                    self._drop_pending()
                    try:
                        await self.perform_seek()
                    except Exception as exc:  # noqa: BLE001 - Faust logs and carries on too
                        self.log.warning("exception performing seek when flow not active %r", exc)
                    continue
                generation = self.app.consumer_generation_id
                now = monotonic()
                for tp, tp_records in (records or {}).items():
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue
                    previous = self._read_offset.get(tp)
                    fresh = self._unread(tp, tp_records)
                    if not fresh:
                        continue
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    pending = self._pending.get(tp.topic)
                    if pending is not None:
                        pending.add(tp, fresh, generation, now)
                    else:
                        await self._deliver_each(tp, fresh, previous)
                await self._deliver_due()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise

    def _fetch_timeout(self) -> float:
        deadlines = [
            deadline
            for topic, pending in self._pending.items()
            if (deadline := pending.deadline(self._routes[topic])) is not None
        ]
        if not deadlines:
            return _IDLE_FETCH_TIMEOUT_S
        return min(max(min(deadlines) - monotonic(), 0.0), _IDLE_FETCH_TIMEOUT_S)

    def _unread(self, tp: TP, records: list[Any]) -> list[Any]:
        """The records at or after the next offset to read (a seek moves it back to the committed
        offset; anything older is a stale prefetch), advancing that offset past them."""
        next_offset = self._read_offset.get(tp)
        if next_offset is not None and records and records[0].offset < next_offset:
            records = [record for record in records if record.offset >= next_offset]
        if records:
            self._read_offset[tp] = records[-1].offset + 1
        return records

    async def _deliver_due(self) -> None:
        for topic, route in self._routes.items():
            pending = self._pending[topic]
            while pending.due(route, monotonic()):
                if not self.flow_active or pending.generation != self.app.consumer_generation_id:
                    pending.clear()  # a rebalance began: Faust seeks back to the committed offsets
                    break
                await self._deliver(route, pending.take(route.max_batch))
                if self._failed:
                    return

    async def _deliver(self, route: Route, batch: Batch) -> None:
        """Hand ``batch`` to its handler (shielded from the fetcher's cancellation) and wait."""
        if self._inflight is not None and not self._inflight.done():
            await asyncio.wait({self._inflight})  # a restarted drain loop: keep one batch at a time
        if self._failed:
            return
        inbound = self.app.monitor.stream_inbound_time
        now = monotonic()
        for tp in batch.positions:
            inbound[tp] = now  # Faust's livelock detector reads it (as a stream would set it)
        task = asyncio.ensure_future(self._handle(route, batch, self.app.consumer_generation_id))
        self._inflight = task
        await asyncio.shield(task)
        if self._failed:
            return
        self._n_acked += len(batch.records)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            if self._committing is None or self._committing.done():  # as Faust, but off the drain loop
                self._committing = asyncio.ensure_future(self.commit())

    async def _handle(self, route: Route, batch: Batch, generation: int) -> None:
        try:
            await route.handler(raw_messages(batch.records))
        except Exception as exc:
            self._failed = exc
            self.log.exception("batch handler failed; stopping so that the batch is redelivered")
            await self.app.crash(exc)
            return
        if generation == self.app.consumer_generation_id:
            self._positions.update(batch.positions)

    async def _deliver_each(self, tp: TP, records: list[Any], next_offset: int | None) -> None:
        """Faust's per-message delivery (and offset-gap bookkeeping, which its per-offset acks need),
        for the records of a topic without a route."""
        track_gaps = self.app.topics.acks_enabled_for(tp.topic)
        for record in records:
            if track_gaps and next_offset and record.offset > next_offset:
                await self._add_gap(tp, next_offset, record.offset)
            next_offset = record.offset + 1
            await self.wait_first(self.callback(self._to_message(tp, record)), self.suspend_flow.wait())

    def _drop_pending(self) -> None:
        for pending in self._pending.values():
            pending.clear()

    # -- offsets and rebalancing ----------------------------------------------------------------

    def _filter_tps_with_pending_acks(self, topics: TPorTopicSet | None = None) -> Iterator[TP]:
        yield from super()._filter_tps_with_pending_acks(topics)
        for tp in list(self._positions):
            if topics is None or tp in topics or tp.topic in topics:
                yield tp

    def _new_offset(self, tp: TP) -> int | None:
        position = self._positions.get(tp)
        return position if position is not None else super()._new_offset(tp)

    async def wait_empty(self) -> None:
        """Wait for the batch in progress (and a commit started for an earlier one, which Faust's own
        commit would wait for and then skip), then Faust's wait for unacked events and its commit."""
        while busy := {work for work in (self._inflight, self._committing) if work is not None and not work.done()}:
            await asyncio.wait(busy)
        await super().wait_empty()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Faust's revocation (which waits for the batch in progress and commits), then forget."""
        await super().on_partitions_revoked(revoked)
        self._drop_pending()
        for tp in revoked:
            self._positions.pop(tp, None)
