"""A small simulated history, collected as the backtest collects topic records, and two models."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np

from backtest.history import Collector, History
from backtest.models import BacktestModel, ModelRef
from backtest.timerange import TimeRange
from fraudcore.features.definition import DEFAULT_SPEC, LabelFacts, TxFacts
from fraudcore.features.memory import offline_features
from fraudcore.model_kind import ModelKind
from fraudcore.models import LoadedModel, ModelBundle, validate_bundle
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.codec import encode
from schemas.events import Label, Transaction
from trainer.fitting import fit_bundle

PARAMS = SimulationParams(seed=7, n_customers=80, n_terminals=160, days=50)
RANGE = TimeRange.between(PARAMS.start + timedelta(days=38), PARAMS.start + timedelta(days=45))
NOW = datetime(2030, 1, 1, tzinfo=UTC)
PARTITIONS = 3


@dataclass(frozen=True)
class FakeRecord:
    """A consumed record: its offset and value."""

    offset: int
    value: bytes | None


def unzip(records: list[FakeRecord]) -> tuple[list[bytes | None], list[int]]:
    """The values and offsets of ``records``, as the collector takes them."""
    return [record.value for record in records], [record.offset for record in records]


@cache
def events() -> tuple[list[Transaction], list[Label]]:
    """The simulated transactions and their labels (delay: the spec's label delay)."""
    stream = SimulatedStream(PARAMS, LabelPolicy(delay=timedelta(days=DEFAULT_SPEC.label_delay_days)))
    produced = list(stream.events())
    return [e for e in produced if isinstance(e, Transaction)], [e for e in produced if isinstance(e, Label)]


def partition_of(customer_id: str | None) -> int:
    """A stable partition per card, as keyed records would land."""
    return 0 if customer_id is None else zlib.crc32(customer_id.encode()) % PARTITIONS


def topic_records(
    items: list[Transaction] | list[Label], extra: dict[int, list[bytes | None]] | None = None
) -> dict[int, list[FakeRecord]]:
    """The encoded events per partition, offsets counting from 0, then the ``extra`` raw values."""
    partitions: dict[int, list[FakeRecord]] = {p: [] for p in range(PARTITIONS)}
    for item in items:
        records = partitions[partition_of(item.customer_id)]
        records.append(FakeRecord(len(records), encode(item)))
    for partition, values in (extra or {}).items():
        records = partitions[partition]
        records += [FakeRecord(len(records) + i, value) for i, value in enumerate(values)]
    return partitions


def collect(time_range: TimeRange = RANGE) -> Collector:
    """A collector fed with every record of both topics, partition by partition."""
    transactions, labels = events()
    collector = Collector(time_range.replay_from_ms(DEFAULT_SPEC), time_range.end_ms, NOW)
    for partition, records in topic_records(transactions).items():
        collector.add_transactions(partition, *unzip(records))
    for partition, records in topic_records(labels).items():
        collector.add_labels(partition, *unzip(records))
    return collector


@cache
def history() -> History:
    """The history of :data:`RANGE`."""
    return collect().history()


def offline(transactions: list[TxFacts], labels: list[LabelFacts]) -> np.ndarray:
    """The reference offline features."""
    return offline_features(transactions, labels)


def loaded(bundle: ModelBundle, version: str) -> LoadedModel:
    """``bundle`` as if loaded from the registry."""
    validation = validate_bundle(bundle, DEFAULT_SPEC.feature_names)
    return LoadedModel("fraud", version, bundle, f"digest-{version}", NOW, validation)


@cache
def models() -> tuple[BacktestModel, BacktestModel]:
    """Two models fitted on the simulated history before the range (logistic and boosting)."""
    transactions, labels = events()
    facts = [TxFacts.of(t) for t in transactions]
    matrix = offline(facts, [LabelFacts.of(label) for label in labels])
    before = np.array([f.event_time_ms < RANGE.start_ms for f in facts])
    fraud = np.array([t.fraud_scenario != 0 for t in transactions])
    logistic = fit_bundle(matrix[before], fraud[before], kind=ModelKind.LOGISTIC, seed=1)
    boosting = fit_bundle(matrix[before], fraud[before], kind=ModelKind.BOOSTING, seed=2, params={"max_iter": 20})
    return (
        BacktestModel(ModelRef("fraud", alias="champion"), loaded(logistic, "1")),
        BacktestModel(ModelRef("fraud", version="2"), loaded(boosting, "2")),
    )
