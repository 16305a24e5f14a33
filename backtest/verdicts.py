"""Backtest verdicts, written to a topic of the user's choice (never the live verdicts topic).

One verdict per model and transaction in range, keyed by transaction id as the contract says, and
naming the model version that produced it (a consumer deduplicating on the key should dedupe on
key and ``model_version`` here). ``scored_at`` is the transaction's event time (the replay's clock)
and ``scoring_latency_s`` 0, so the verdicts of a rerun are the same. Each record carries the
requested model reference in the header ``fraudstream-backtest-model``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
from aiokafka import AIOKafkaProducer

from backtest.models import BacktestModel
from fraudcore.features.definition import TxFacts
from fraudcore.kafka_admin import TopicSpec, ensure_topics
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings
from schemas.codec import encode
from schemas.events import Verdict

# Decisions from the configured thresholds and the verdict assembly are the live scorer's own.
from scorer.decisions import Thresholds
from scorer.verdicts import ScoredBatch, assemble_verdicts, check_contract

__all__ = ["HEADER", "build_verdicts", "write_verdicts"]

HEADER: Final = "fraudstream-backtest-model"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK: Final = 10_000


def build_verdicts(
    model: BacktestModel,
    facts: Sequence[TxFacts],
    matrix: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    thresholds: Thresholds,
    reason_count: int,
) -> list[Verdict]:
    """The verdicts of ``model`` for ``facts`` (features ``matrix``, scores ``scores``), in order."""
    bundle = model.loaded.bundle
    count = len(facts)
    batch = ScoredBatch(
        transaction_ids=[tx.transaction_id for tx in facts],
        customer_ids=[tx.customer_id for tx in facts],
        feature_names=bundle.feature_names,
        matrix=matrix,
        scores=scores,
        model_name=model.loaded.name,
        model_versions=[model.loaded.version] * count,
        reasons=bundle.reasons(matrix, reason_count) if reason_count else [[] for _ in facts],
        scored_at=[_EPOCH + timedelta(milliseconds=tx.event_time_ms) for tx in facts],
        scoring_latency_s=0.0,
    )
    verdicts = assemble_verdicts(batch, thresholds)
    if verdicts:
        check_contract(verdicts[0])
    return verdicts


async def write_verdicts(
    settings: Settings,
    topic: str,
    models: Sequence[BacktestModel],
    facts: Sequence[TxFacts],
    matrix: npt.NDArray[np.float64],
    scores: Sequence[npt.NDArray[np.float64]],
    thresholds: Thresholds,
    *,
    on_progress: Callable[[int], None] = lambda count: None,
) -> int:
    """Create ``topic`` if missing and send every model's verdicts to it (idempotent producer,
    ``acks=all``); returns how many were sent."""
    await ensure_topics(settings, [TopicSpec(topic, partitions=settings.topic_partitions)])
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    sent = 0
    try:
        for model, model_scores in zip(models, scores, strict=True):
            header = [(HEADER, str(model.ref).encode("utf-8"))]
            for start in range(0, len(facts), _CHUNK):
                rows = slice(start, min(len(facts), start + _CHUNK))
                chunk = build_verdicts(
                    model, facts[rows], matrix[rows], model_scores[rows], thresholds, settings.reason_count
                )
                deliveries = [
                    await producer.send(topic, encode(v), key=v.transaction_id.encode("utf-8"), headers=header)
                    for v in chunk
                ]
                await asyncio.gather(*deliveries)  # raises the first delivery failure
                sent += len(chunk)
                on_progress(len(chunk))
    finally:
        await producer.stop()
    return sent
