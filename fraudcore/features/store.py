"""The interface every feature store offers (semantics in :mod:`fraudcore.features.definition`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol

from fraudcore.features.definition import Conflict, LabelFacts, LabelOutcome, TxFacts, WindowCounts

__all__ = ["FeatureStore", "FeatureStoreUnavailable"]


class FeatureStoreUnavailable(Exception):
    """The backing store cannot be reached, did not answer in time, or refuses work for now (out of
    memory, read-only, loading...). The batch may or may not have been recorded; back off and retry
    the same batch, which recording's idempotency makes safe. ``kind`` names the cause (a short
    snake_case word, e.g. ``unreachable`` or ``out_of_memory``)."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


class FeatureStore(Protocol):
    """History of transactions and labels, answering window counts."""

    async def record_transactions(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        """Record the batch in order (idempotently per transaction id) and return each
        transaction's counts, a later one seeing the earlier ones of the batch; an id recorded
        before with other facts is not recorded and answered with a :class:`Conflict`.

        ``clock_ms`` is the stream's event-time clock, if known: history is pruned relative to
        ``min(t, clock_ms)``, not ``t`` alone, so a transaction dated far ahead of the stream cannot
        prune the history of its card and terminal (see :mod:`~fraudcore.features.definition`)."""
        ...

    @property
    def held_labels_dropped(self) -> int:
        """How many held labels recording transactions has dropped so far: dated before their
        transaction, or expired (their transaction behind the claim floor; see
        :mod:`~fraudcore.features.definition`); peeks drop none."""
        ...

    @property
    def counts_ahead(self) -> bool:
        """Whether :meth:`record_chunks` counts the next chunk while the caller uses the counts of this
        one; when it does not, splitting a batch into chunks only adds per-chunk costs."""
        ...

    def record_chunks(
        self, chunks: Sequence[Sequence[TxFacts]], *, clock_ms: int | None = None
    ) -> AsyncGenerator[list[WindowCounts | Conflict], None]:
        """:meth:`record_transactions` of each chunk in turn, yielding each chunk's counts. A store may
        work on the next chunk while the caller uses the counts yielded; stopping early leaves the
        chunks not yielded possibly recorded (as a failed call may)."""
        ...

    async def peek_transactions(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        """What :meth:`record_transactions` would return for the batch, writing nothing."""
        ...

    async def record_labels(self, labels: Sequence[LabelFacts], *, clock_ms: int | None = None) -> list[LabelOutcome]:
        """Record labels in order (the latest ``labeled_at`` wins; see
        :mod:`~fraudcore.features.definition`); return what each one did. ``clock_ms``: as for
        :meth:`record_transactions` (a fraud added to a terminal's history prunes it)."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...
