"""The worker's idempotent producer, replaced by a fresh one when the broker refuses its producer state.

aiokafka's idempotent producer numbers the record batches of each partition when it hands them over.
A batch it then fails on its own (expired while the partition had no leader, as when the broker
restarts) leaves a gap in those numbers, and the broker refuses every later batch of that partition as
out of order, for the producer's whole life: resending through it can never succeed. A fresh producer
gets a new producer id, whose numbers start again at 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

__all__ = ["REFUSED_PRODUCER_STATE", "RenewingProducer"]

log = logging.getLogger(__name__)

REFUSED_PRODUCER_STATE: tuple[type[KafkaError], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
)
"""Errors after which a producer's batches of a partition are refused for good."""

_STOP_TIMEOUT_S = 10.0


class _Producer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


P = TypeVar("P", bound=_Producer)


class RenewingProducer(Generic[P]):
    """Holds the current producer; :meth:`renew_after` replaces it after a refused producer state."""

    def __init__(self, make: Callable[[], P]) -> None:
        self._make = make
        self.current: P | None = None
        self.renewals = 0
        """Producers replaced so far."""

    async def start(self) -> None:
        """Start the first producer."""
        producer = self._make()
        await producer.start()
        self.current = producer

    async def renew_after(self, failed_with: P, errors: Iterable[BaseException]) -> bool:
        """Replace the producer when ``errors`` (of a send through ``failed_with``) include a refused producer
        state and ``failed_with`` is still the current one (another send may have replaced it already).
        Returns whether it was replaced; a :class:`KafkaError` when the fresh one cannot start (broker away)."""
        if failed_with is not self.current or not any(isinstance(error, REFUSED_PRODUCER_STATE) for error in errors):
            return False
        fresh = self._make()
        await fresh.start()
        self.current = fresh
        self.renewals += 1
        log.warning("the broker refused the producer's state; sending through a new producer from now on")
        try:
            await asyncio.wait_for(failed_with.stop(), _STOP_TIMEOUT_S)
        except (KafkaError, TimeoutError) as error:
            log.warning("the replaced producer did not stop cleanly (%r)", error)
        return True

    async def stop(self) -> None:
        """Flush and stop the current producer."""
        if self.current is not None:
            await self.current.stop()
