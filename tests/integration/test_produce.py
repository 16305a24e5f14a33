"""``fraudstream produce`` against the real broker, read back by a plain Kafka client (kcat)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from aiokafka.partitioner import DefaultPartitioner

from fraudcore.settings import Settings
from fraudstream.cli import main
from producer.files import EventWriter
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams, Simulator
from schemas.codec import encode
from schemas.events import Event, Label, Transaction
from schemas.generate import schema_path
from schemas.topics import Topics

SIMULATION = ["--seed", "7", "--customers", "300", "--terminals", "600", "--days", "40"]
MIX_SIMULATION = ["--seed", "7", "--customers", "300", "--terminals", "600", "--days", "60"]
MIX_PARAMS = SimulationParams(seed=7, n_customers=300, n_terminals=600, days=60)


def _use(monkeypatch: pytest.MonkeyPatch, settings: Settings, prefix: str) -> Topics:
    monkeypatch.setenv("FRAUD_KAFKA_BOOTSTRAP", settings.bootstrap_servers)
    monkeypatch.setenv("FRAUD_TOPIC_PREFIX", prefix)
    return Topics.with_prefix(prefix)


def _kcat(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every message of ``topic`` as kcat's JSON envelope (key, payload, partition, offset)."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat is installed by scripts/install-system-deps.sh"
    done = subprocess.run(
        [kcat, "-b", settings.bootstrap_servers, "-C", "-t", topic, "-e", "-q", "-J"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return sorted(messages, key=lambda m: (m["partition"], m["offset"]))


def _validator(event_type: type[Event]) -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_path(event_type).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def test_simulated_transactions_and_delayed_labels_validate_against_the_shipped_schema(
    services: Settings, unique: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    topics = _use(monkeypatch, services, f"p{unique}.")
    assert main(["produce", *SIMULATION, "--count", "4000", "--label-delay-days", "7", "--quiet"]) == 0

    transactions = _kcat(services, topics.transactions)
    labels = _kcat(services, topics.labels)
    assert len(transactions) == len(labels) == 4000
    assert len({m["partition"] for m in transactions}) == services.topic_partitions
    for messages, event_type in ((transactions, Transaction), (labels, Label)):
        validator = _validator(event_type)
        for message in messages:
            document = json.loads(message["payload"])
            validator.validate(document)
            assert message["key"] == document["customer_id"]

    by_id = {json.loads(m["payload"])["transaction_id"]: json.loads(m["payload"]) for m in transactions}
    for message in labels:
        label = json.loads(message["payload"])
        transaction = by_id.pop(label["transaction_id"])
        assert label["is_fraud"] == (transaction["fraud_scenario"] > 0)
        assert label["labeled_at"] > transaction["event_time"]
    assert not by_id


def _expected_shares(p: SimulationParams) -> dict[int, float]:
    """Each scenario's expected share of transactions, from the parameters alone (first order:
    ignores a compromised terminal or customer being drawn again, and scenario precedence)."""
    means = np.linspace(5, 100, 2001)  # customers' mean amounts, uniform; std = mean / 2
    above = [0.5 * math.erfc(z / math.sqrt(2)) for z in (p.amount_threshold - means) / (means / 2)]
    ramp = np.arange(1, p.days + 1)
    terminals = np.minimum(ramp, p.terminal_compromise_days) * p.compromised_terminals_per_day / p.n_terminals
    customers = np.minimum(ramp, p.customer_compromise_days) * p.compromised_customers_per_day / p.n_customers
    return {1: float(np.mean(above)), 2: float(terminals.mean()), 3: float(customers.mean()) * p.customer_fraud_share}


def test_fraud_rate_and_scenario_mix_match_the_parameters(
    services: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = _use(monkeypatch, services, f"p{unique}.")
    assert main(["produce", *MIX_SIMULATION, "--quiet"]) == 0

    produced = Counter(json.loads(m["payload"])["fraud_scenario"] for m in _kcat(services, topics.transactions))
    simulated: Counter[int] = Counter()
    for day in Simulator(MIX_PARAMS).days():
        simulated.update(int(s) for s in day.scenario)
    assert produced == simulated  # the producer neither drops, duplicates nor alters

    total = sum(produced.values())
    expected = _expected_shares(MIX_PARAMS)
    for scenario, tolerance in ((1, (0.4, 2.5)), (2, (0.75, 1.25)), (3, (0.75, 1.25))):
        ratio = produced[scenario] / total / expected[scenario]
        assert tolerance[0] < ratio < tolerance[1], f"scenario {scenario}: {ratio:.2f}x its expected share"
    labelled_fraud = sum(json.loads(m["payload"])["is_fraud"] for m in _kcat(services, topics.labels))
    assert labelled_fraud == total - produced[0]


def test_the_same_seed_reproduces_the_stream_byte_for_byte(
    services: Settings, unique: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = _use(monkeypatch, services, f"a{unique}.")
    assert main(["produce", *SIMULATION, "--count", "1500", "--quiet"]) == 0
    second = _use(monkeypatch, services, f"b{unique}.")
    assert main(["produce", *SIMULATION, "--count", "1500", "--quiet"]) == 0
    assert main(["produce", *SIMULATION, "--count", "1500", "--quiet", "--to-file", str(tmp_path / "d.jsonl")]) == 0

    for name in ("transactions", "labels"):
        one = [(m["partition"], m["key"], m["payload"]) for m in _kcat(services, getattr(first, name))]
        two = [(m["partition"], m["key"], m["payload"]) for m in _kcat(services, getattr(second, name))]
        assert one == two
    file_lines = (tmp_path / "d.jsonl").read_bytes().decode().splitlines()
    topic_values = [m["payload"] for m in _kcat(services, first.transactions)]
    assert sorted(file_lines) == sorted(topic_values)
    for partition in range(services.topic_partitions):
        in_partition = [m["payload"] for m in _kcat(services, first.transactions) if m["partition"] == partition]
        assert in_partition == [line for line in file_lines if line in set(in_partition)]


def test_invalid_rows_of_a_file_never_reach_the_topic(
    services: Settings, unique: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = _use(monkeypatch, services, f"p{unique}.")
    dataset = tmp_path / "in.csv"
    dataset.write_text(
        "transaction_id,event_time,customer_id,terminal_id,amount\n"
        "good-1,2018-04-01T10:00:00Z,c1,t1,10.00\n"
        "bad-1,2018-04-01T10:00:00Z,c1,t1,NaN\n"
        "bad-2,2018-04-01T10:00:00Z,c1,t1,-1\n"
        "bad-3,not-a-time,c1,t1,1\n"
        "good-2,2018-04-01T11:00:00Z,c2,t1,20.50\n",
        encoding="utf-8",
    )
    assert main(["produce", "--from-file", str(dataset), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "3 rows refused" in err
    assert all(f"line {line}:" in err for line in (3, 4, 5))

    sent = [json.loads(m["payload"])["transaction_id"] for m in _kcat(services, topics.transactions)]
    assert sorted(sent) == ["good-1", "good-2"]


def test_a_partial_label_fraction_labels_that_share(
    services: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = _use(monkeypatch, services, f"p{unique}.")
    assert main(["produce", *SIMULATION, "--count", "4000", "--label-fraction", "0.3", "--quiet"]) == 0
    share = len(_kcat(services, topics.labels)) / 4000
    assert 0.26 < share < 0.34


def test_ctrl_c_flushes_what_was_sent_and_reports_it(services: Settings, unique: str) -> None:
    prefix = f"p{unique}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_") and k != "MLFLOW_TRACKING_URI"}
    env |= {"FRAUD_KAFKA_BOOTSTRAP": services.bootstrap_servers, "FRAUD_TOPIC_PREFIX": prefix}
    process = subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "produce", *SIMULATION, "--rate", "400"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # interpreter start, topic creation, then about a second of paced sending
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted: flushed what was sent" in err
    sent = re.search(r"sent ([\d,]+) transactions and ([\d,]+) labels", out)
    assert sent, out
    transactions = int(sent.group(1).replace(",", ""))
    assert transactions > 0
    topics = Topics.with_prefix(prefix)
    assert len(_kcat(services, topics.transactions)) == transactions
    assert f"{topics.transactions} ({transactions:,} acknowledged)" in out


def test_a_file_reaches_the_partitions_send_would_choose_in_file_order(
    services: Settings, unique: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    topics = _use(monkeypatch, services, f"p{unique}.")
    dataset = tmp_path / "in.jsonl"
    writer = EventWriter(dataset, Transaction)
    stream = SimulatedStream(SimulationParams(seed=3, n_customers=300, n_terminals=600, days=20), LabelPolicy())
    events = [event for event in stream.events(5000) if isinstance(event, Transaction)]
    for event in events:
        writer.write(event)
    writer.close()
    lines = dataset.read_bytes().splitlines()
    dataset.write_bytes(b"\n".join([*lines[:2500], b"{not json", *lines[2500:]]) + b"\n")
    assert main(["produce", "--from-file", str(dataset), "--quiet"]) == 1  # one row refused

    messages = _kcat(services, topics.transactions)
    assert len(messages) == len(events)
    partitions = list(range(services.topic_partitions))
    for message in messages:
        assert message["partition"] == DefaultPartitioner()(message["key"].encode(), partitions, partitions)
    expected = [encode(event).decode() for event in events]  # the bytes today's decoder and encoder give
    for partition in partitions:
        sent = [m["payload"] for m in messages if m["partition"] == partition]
        assert sent == [value for value in expected if value in set(sent)]
    assert sorted(m["payload"] for m in messages) == sorted(expected)
