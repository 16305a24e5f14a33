"""A Faust app whose consumer hands whole fetched batches of chosen topics to one coroutine each.

``app.route_batches(topic, handler, max_batch=..., within_s=...)`` takes the place of
``@app.agent(topic)`` + ``stream.take_events(...)``: the topic is subscribed by Faust's conductor
(same consumer group, rebalancing and commits), but its records skip Faust's per-message path and
reach ``handler`` as lists of :class:`~scorer.scoring.RawMessage` (raw bytes, no codec). See
:mod:`scorer.fast_consumer` for why the offsets stay correct.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import ConsumerT

from scorer.fast_batches import BatchHandler, Route
from scorer.fast_consumer import BatchConsumer

__all__ = ["FastApp"]


class FastApp(faust.App):
    """``faust.App`` with :meth:`route_batches` (a :class:`BatchConsumer` as its consumer)."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        """Faust's arguments, plus the consumer's ``fetch_max_wait_ms`` (see :class:`BatchConsumer`)."""
        super().__init__(*args, **kwargs)
        self._batch_routes: dict[str, Route] = {}
        self._fetch_max_wait_ms = fetch_max_wait_ms

    def route_batches(
        self,
        topic: faust.TopicT,
        handler: BatchHandler,
        *,
        max_batch: int,
        within_s: float,
        ready_size: int | None = None,
    ) -> None:
        """Deliver ``topic``'s records to ``handler`` in batches of up to ``max_batch``: at once when
        ``ready_size`` records (default: ``max_batch``) are pending, else what arrived within
        ``within_s``. Their offsets are committed once ``handler`` returned."""
        if self._consumer is not None:
            raise RuntimeError("routes must be set before the consumer is created (before the app starts)")
        ready = max_batch if ready_size is None else ready_size
        if max_batch < 1 or ready < 1 or within_s < 0:
            raise ValueError(
                f"max_batch and ready_size must be positive and within_s not negative: {max_batch}, {ready}, {within_s}"
            )
        for name in topic.topics:
            self._batch_routes[name] = Route(handler, max_batch, within_s, ready)
        self.topics.add(topic)  # the conductor subscribes it (as iterating it in an agent would)

    def _new_consumer(self) -> ConsumerT:
        transport = self.transport
        return BatchConsumer(
            transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=transport.loop,
            routes=self._batch_routes,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )
