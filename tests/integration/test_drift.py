"""Drift signals of a real scorer started on an empty feature store and fed live: a stationary stream
keeps them low (the cold store's warm-up raises no alarm), a shift in amounts raises them and an alarm.

"Live" means one simulated day at a time, the next only once the worker has consumed the previous
one, as a deployment sees its traffic. A backlog of all 42 days at once is scored out of event-time
order across partitions (rows of days 0-15 first, then days 1-8 again), which makes terminal
features inexact and the drift window a mix of weeks: a different, documented situation.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from fraudcore.features.definition import FEATURE_NAMES
from fraudcore.models import ModelBundle
from fraudcore.settings import Settings
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.events import Label, Transaction
from scorer.drift_watch import PSI_ALARM
from tests.integration.scorer_harness import (
    ScorerSetup,
    Worker,
    http,
    offline,
    produce,
    read_topic,
    register,
    scorer_setup,
    simulated,
)
from trainer.fitting import fit_bundle

WORLD = SimulationParams(seed=7, n_customers=400, n_terminals=800, days=52)
"""~790 transactions a day: the scorer's 10,000-row drift window spans ~12.7 days."""
STREAMED = replace(WORLD, days=42)
"""What the worker scores, from an empty store: its 30-day features are cold for the first 37 days."""
TRAINED_FROM_DAY = 45
AMOUNT_FEATURES = {"amount", "customer_avg_amount_1d", "customer_avg_amount_7d", "customer_avg_amount_30d"}
COLD_START = "settling back toward the reference"
Alarms = list[dict[str, object]]


@functools.cache
def _champion() -> ModelBundle:
    """A model fitted on a warm week of the same customers (days whose feature windows are full), so
    its reference sample looks like their long-running stream."""
    transactions, labels = simulated(WORLD)
    warm = np.array([t.event_time >= WORLD.start + timedelta(days=TRAINED_FROM_DAY) for t in transactions])
    is_fraud = np.array([t.fraud_scenario != 0 for t in transactions])
    return fit_bundle(offline(transactions, labels)[warm], is_fraud[warm], seed=1)


def _metric(worker: Worker, name: str) -> dict[str, float]:
    """``{label value: value}`` of a one-label metric of the worker."""
    lines = http(worker.url("/metrics"))[1].decode().splitlines()
    values = [line[len(name) + 1 :].split('="', 1)[1].split('"} ', 1) for line in lines if line.startswith(name + "{")]
    return {label: float(value) for label, value in values}


def _feed_live(setup: ScorerSetup, worker: Worker, params: SimulationParams) -> None:
    """Produce ``params`` day by day (labels interleaved in time order; those due after the last day
    left out), each day once the worker has consumed every transaction and label before it."""

    def day_of(event: Transaction | Label) -> int:
        return ((event.event_time if isinstance(event, Transaction) else event.labeled_at) - params.start).days

    sent = {Transaction: 0, Label: 0}
    stream = SimulatedStream(params, LabelPolicy(delay=timedelta(days=7))).events()
    for day, group in itertools.groupby(stream, key=day_of):
        if day >= params.days:
            break
        events = list(group)
        produce(setup.settings, events)
        for event in events:
            sent[type(event)] += 1
        deadline = time.monotonic() + 60
        while (
            sum(_metric(worker, "fraudstream_scorer_transactions_total").values()) < sent[Transaction]
            or sum(_metric(worker, "fraudstream_scorer_labels_total").values()) < sent[Label]
        ):
            assert time.monotonic() < deadline, f"day {day} not consumed within 60 s:\n{worker.log()}"
            assert worker.process.poll() is None, worker.log()
            time.sleep(0.1)


def _alarmed(alarms: Alarms) -> set[str]:
    """The features named by feature-PSI alarms (``...: amount 0.61, customer_avg_amount_1d 0.68``)."""
    messages = [str(alarm["message"]) for alarm in alarms if "feature PSI" in str(alarm["message"])]
    return {item.split()[0] for message in messages for item in message.split(": ", 1)[1].split(", ")}


def _stream(
    services: Settings, unique: str, tmp_path: Path, params: SimulationParams
) -> tuple[dict[str, float], Alarms, str]:
    """Score ``params`` live with one worker started on an empty store; its final PSI per feature, the
    drift alarms on model-events and its log."""
    setup = scorer_setup(services, unique, tmp_path)
    register(setup, _champion())
    worker = Worker(setup, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        _feed_live(setup, worker, params)
        psi = _metric(worker, "fraudstream_scorer_feature_psi")
    finally:
        assert worker.stop() == 0, worker.log()
    records = [json.loads(record.value) for record in read_topic(setup.settings, setup.topics.model_events)]
    return psi, [event for event in records if event["kind"] == "drift_alarm"], worker.log_path.read_text()


def test_a_stationary_stream_from_a_cold_store_keeps_the_drift_signals_low(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    psi, alarms, log = _stream(services, unique, tmp_path, STREAMED)
    assert set(psi) == set(FEATURE_NAMES)
    assert max(psi.values()) < PSI_ALARM, psi
    assert not _alarmed(alarms), alarms
    cold = next(line for line in log.splitlines() if COLD_START in line)  # the store's warm-up was seen
    assert "terminal_nb_tx_30d" in cold, cold


def test_a_shifted_stream_raises_the_drift_signals_and_an_alarm_naming_the_shifted_features(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    psi, alarms, log = _stream(services, unique, tmp_path, replace(STREAMED, shift_day=33, shift_amount_factor=3.0))
    assert psi["amount"] > PSI_ALARM, psi
    assert psi["customer_avg_amount_1d"] > PSI_ALARM, psi
    alarmed = _alarmed(alarms)
    assert "amount" in alarmed, alarms
    assert alarmed <= AMOUNT_FEATURES, alarms  # not the cold store's counts
    assert COLD_START in log
