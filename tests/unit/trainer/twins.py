"""In-memory twins for the trainer's unit tests: a model-events source, a clock, retrain reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import numpy as np

from fraudcore.evaluation import Evaluation, Fold, evaluate
from schemas.codec import encode
from schemas.enums import ModelEventKind
from schemas.events import ModelEvent
from tests.unit.scorer.twins import loaded_model
from trainer.publishing import Registered
from trainer.service import RetrainReport
from trainer.training import FoldResult, TrainingOutcome


class MemoryModelEvents:
    """Model-events values the test queues; iteration ends after :meth:`close`."""

    def __init__(self, values: Iterable[bytes | None] = ()) -> None:
        self.ready = asyncio.Event()
        self._queue: asyncio.Queue[bytes | StopAsyncIteration | None] = asyncio.Queue()
        for value in values:
            self._queue.put_nowait(value)

    def put(self, value: bytes | None) -> None:
        self._queue.put_nowait(value)

    def close(self) -> None:
        self._queue.put_nowait(StopAsyncIteration())

    async def values(self) -> AsyncIterator[bytes | None]:
        self.ready.set()
        while not isinstance(value := await self._queue.get(), StopAsyncIteration):
            yield value


class FakeClock:
    """Wall time the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def model_event(
    kind: ModelEventKind = ModelEventKind.DRIFT_ALARM,
    message: str = "feature PSI above 0.25 against version 3: amount 0.61",
    model_name: str = "fraud",
) -> bytes:
    """The wire bytes of a model event (a drift alarm by default)."""
    event = ModelEvent(
        kind=kind, model_name=model_name, model_version="3", metrics={}, message=message, at=datetime.now(UTC)
    )
    return encode(event)


def _evaluation(seed: int) -> Evaluation:
    rng = np.random.default_rng(seed)
    fraud = rng.random(400) < 0.1
    scores = np.clip(fraud * 0.3 + rng.random(400), 0, 1)
    return evaluate(fraud, scores, day=np.repeat(np.arange(4), 100), customer=rng.integers(0, 50, 400).astype(str))


def retrain_report(
    *, promoted: bool, version: str = "2", previous: str | None = "1", champion: bool = True
) -> RetrainReport:
    """A report of a retrain on synthetic scores (fold 0 only)."""
    rows = np.ones(400, dtype=np.bool_)
    fold = FoldResult(
        fold=Fold(0, 0, 1, 2, 3, rows, rows),
        challenger=_evaluation(1),
        champion=_evaluation(2) if champion else None,
        baseline=_evaluation(3),
    )
    outcome = TrainingOutcome(
        bundle=loaded_model("1").bundle,
        folds=[fold],
        promote=promoted,
        reason="promote: test" if promoted else "keep the champion: test",
        train_rows=400,
        test_labels=np.zeros(0, dtype=np.bool_),
        test_scores={},
    )
    registered = Registered(version, promoted, previous)
    return RetrainReport(at=datetime.now(UTC), transactions=400, labelled=400, outcome=outcome, registered=registered)
