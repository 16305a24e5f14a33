"""The trainer's catch-up over real topics with the bulk reader: every record read once, invalid ones
counted, labels paced behind the transactions, positions kept so a second catch-up reads only what
is new."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import NoReturn

import pytest

import trainer.service
from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.kafka_bulk_reading import BulkReader
from fraudcore.settings import Settings
from producer.simulator import SimulationParams
from schemas.topics import Topics
from tests.integration.scorer_harness import produce, simulated
from trainer.service import Trainer
from trainer.training import TrainingConfig

pytestmark = pytest.mark.integration

PARAMS = SimulationParams(seed=5, n_customers=200, n_terminals=400, days=30)


def _no_registry() -> NoReturn:
    raise AssertionError("catching up never talks to the registry")


def _events(trainer: Trainer, kind: str, outcome: str) -> float | None:
    return trainer.metrics.registry.get_sample_value(
        "fraudstream_trainer_events_total", {"kind": kind, "outcome": outcome}
    )


def test_catch_up_reads_every_record_once_paces_the_labels_and_resumes_from_its_positions(
    test_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = test_settings.model_copy(update={"topic_partitions": 2})
    topics: Topics = asyncio.run(ensure_project_topics(settings))
    transactions, labels = simulated(PARAMS)
    invalid = [(topics.transactions, b"k", b"{"), (topics.transactions, b"k", None), (topics.labels, b"k", b"[]")]
    produce(settings, [*transactions, *labels, *invalid])
    monkeypatch.setattr(trainer.service, "_POLL_RECORDS", 300)  # many reads: the labels run days ahead

    first = Trainer(settings, topics, _no_registry, TrainingConfig.from_settings(settings))
    waiting_while_reading: list[int] = []
    pace = first._pace

    def observed(reader: BulkReader) -> None:
        if any(topic == topics.transactions for topic, _ in reader.remaining):
            waiting_while_reading.append(first.history.waiting_labels)
        pace(reader)

    monkeypatch.setattr(first, "_pace", observed)
    read = asyncio.run(first.catch_up())
    assert read == len(transactions) + len(labels) + len(invalid)
    assert len(first.history) == len(transactions)
    history = first.history
    assert history.refused_labels == 0
    assert history.labels_received + history.waiting_labels == len(labels)  # the last days' wait for their clock
    assert len(waiting_while_reading) > 20
    assert max(waiting_while_reading) < 1000  # unpaced, labels days ahead would pile up in thousands
    assert _events(first, "transaction", "accepted") == len(transactions)
    assert _events(first, "transaction", "invalid") == 2
    assert _events(first, "label", "invalid") == 1
    ends = dict(first.positions)
    assert sum(ends.values()) == read
    assert set(ends) == {(topic, p) for topic in (topics.transactions, topics.labels) for p in (0, 1)}

    start = PARAMS.start + timedelta(days=PARAMS.days)
    later, _ = simulated(SimulationParams(seed=6, n_customers=20, n_terminals=40, days=1, start=start), 40)
    produce(settings, later)
    second = Trainer(settings, topics, _no_registry, TrainingConfig.from_settings(settings))
    second.positions = dict(ends)
    assert asyncio.run(second.catch_up()) == len(later)
    assert len(second.history) == len(later)
    assert sum(second.positions.values()) == read + len(later)
