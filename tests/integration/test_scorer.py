"""The scorer worker end to end against real Kafka, Redis and MLflow."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from fraudcore.features.definition import FEATURE_NAMES
from fraudcore.models import ModelBundle
from fraudcore.settings import Settings
from producer.simulator import SimulationParams
from schemas.codec import Decoded, decode_dead_letter, encode
from schemas.enums import ModelEventKind
from schemas.events import ModelEvent
from schemas.examples import EXAMPLE_NOW, example_transaction
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import (
    ScorerSetup,
    Worker,
    http,
    offline,
    payloads,
    produce,
    read_topic,
    register,
    scorer_setup,
    simulated,
    train_bundle,
    wait_for_records,
)

POISON: list[tuple[bytes | None, bytes | None, str]] = [
    (b"c1", b'{"schema_version":1,"transaction_id":"x1"', "invalid_json"),
    (b"c1", b"\xff\xfe not utf-8", "not_utf8"),
    (b"c1", b"", "empty"),
    (b"c1", None, "empty"),
    (
        b"c1",
        b'{"schema_version":1,"transaction_id":"x2","event_time":"2018-04-01T00:00:00Z",'
        b'"customer_id":"c1","terminal_id":"t1","amount":"12.5"}',
        "wrong_type",
    ),
    (
        b"c1",
        b'{"schema_version":1,"transaction_id":"x3","event_time":"2018-04-01T00:00:00Z",'
        b'"customer_id":"c1","terminal_id":"t1","amount":-4}',
        "out_of_range",
    ),
    (
        b"c1",
        b'{"schema_version":1,"transaction_id":"x4","event_time":"2018-04-01T00:00:00Z",'
        b'"customer_id":"c1","terminal_id":"t1","amount":NaN}',
        "non_finite",
    ),
    (
        b"c1",
        b'{"schema_version":1,"transaction_id":"x5","event_time":"2999-04-01T00:00:00Z",'
        b'"customer_id":"c1","terminal_id":"t1","amount":4}',
        "implausible_time",
    ),
    (b"c1", b'{"schema_version":1,"transaction_id":"x6","customer_id":"c1"}', "missing_field"),
]


def test_every_transaction_gets_one_verdict_with_features_equal_to_the_offline_ones(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    # One partition: the worker then sees the transactions in event-time order, as the offline replay
    # does. (Across partitions, terminal features are exact while partitions stay within the label
    # delay of each other in event time, as they do live; see scorer/app.py.)
    setup = scorer_setup(services, unique, tmp_path, partitions=1)
    version = register(setup, train_bundle(seed=1))
    transactions, labels = simulated(SimulationParams(seed=3, n_customers=200, n_terminals=400, days=30))
    # Labels first: each counts only from its labeled_at on, so the online features are then exactly
    # the offline ones (the replay-parity condition); live, a lagging label counts once it arrives.
    produce(setup.settings, labels)
    worker = Worker(setup, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        wait_for_records(setup.settings, setup.topics.labels, len(labels), 30)
        _wait_labels_recorded(worker, len(labels))
        topic = setup.topics.transactions
        produce(setup.settings, [*transactions[:1000], *[(topic, k, v) for k, v, _ in POISON], *transactions[1000:]])
        records = wait_for_records(setup.settings, setup.topics.verdicts, len(transactions), 120, worker)
    finally:
        assert worker.stop() == 0, worker.log()

    verdicts = payloads(records)
    by_id = {v["transaction_id"]: v for v in verdicts}
    assert len(by_id) == len(transactions)  # every valid transaction, once after dedupe
    assert {v["model_version"] for v in verdicts} == {version}
    assert all(record.key == json.loads(record.value)["transaction_id"].encode() for record in records)
    expected = offline(transactions, labels)
    for row, transaction in enumerate(transactions):
        features = by_id[transaction.transaction_id]["features"]
        assert [features[name] for name in FEATURE_NAMES] == expected[row].tolist(), transaction.transaction_id

    letters = [
        decode_dead_letter(r.value, now=EXAMPLE_NOW.replace(year=2100))
        for r in read_topic(setup.settings, setup.topics.dead_letters)
    ]
    assert all(isinstance(letter, Decoded) for letter in letters)
    received = sorted(
        ((d.event.original_value(), d.event.reason_code.value) for d in letters if isinstance(d, Decoded)), key=repr
    )
    assert received == sorted(((value, reason) for _, value, reason in POISON), key=repr)


def _wait_labels_recorded(worker: Worker, count: int) -> None:
    import time

    from tests.integration.scorer_harness import http

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, body = http(worker.url("/metrics"))
        recorded = sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith("fraudstream_scorer_labels_total{")
        )
        if recorded >= count:
            return
        time.sleep(0.3)
    raise AssertionError(f"labels not recorded in time:\n{worker.log()}")


def _corrupt_artifact(setup_settings: Settings, version: str) -> None:
    """Change one byte of the registered artifact on disk (after registration)."""
    from fraudcore.mlflow_store import connect

    source = connect(setup_settings).get_model_version(setup_settings.model_name, version).source
    assert source is not None
    directory = Path(source.removeprefix("file://"))
    target = max((path for path in directory.rglob("*") if path.is_file()), key=lambda path: path.stat().st_size)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))


def _model_event(setup: ScorerSetup, version: str) -> ModelEvent:
    return ModelEvent(
        kind=ModelEventKind.PROMOTED,
        model_name=setup.settings.model_name,
        model_version=version,
        metrics={},
        message="test promotion",
        at=datetime.now(UTC),
    )


def test_a_reload_under_load_swaps_without_loss_and_bad_versions_are_refused(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    good = train_bundle(seed=1)
    v1 = register(setup, good)
    transactions, _ = simulated(SimulationParams(seed=4, n_customers=300, n_terminals=600, days=40))
    chunks = [transactions[i : i + 400] for i in range(0, len(transactions), 400)]
    worker = Worker(setup, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        v2 = v3 = v4 = ""
        for index, chunk in enumerate(chunks):  # steady load while versions change
            produce(setup.settings, chunk)
            if index == len(chunks) // 4:
                v2 = register(setup, train_bundle(seed=2))
                produce(setup.settings, [_model_event(setup, v2)])
            if index == len(chunks) // 2:
                v3 = register(setup, good, champion=False)
                _corrupt_artifact(setup.settings, v3)
                register_alias(setup, v3)
                produce(setup.settings, [_model_event(setup, v3)])
            if index == 3 * len(chunks) // 4:
                names = tuple(reversed(good.feature_names))
                swapped = ModelBundle(good.estimator, names, good.feature_spec_digest, good.reference)
                v4 = register(setup, swapped)
                produce(setup.settings, [_model_event(setup, v4)])
            time.sleep(0.1)
        records = wait_for_records(setup.settings, setup.topics.verdicts, len(transactions), 180, worker)
        status, body = http(worker.url("/model"))
        metrics = http(worker.url("/metrics"))[1].decode()
    finally:
        assert worker.stop() == 0, worker.log()

    verdicts = payloads(records)
    assert {v["transaction_id"] for v in verdicts} == {t.transaction_id for t in transactions}
    raw_duplicates = len(verdicts) - len(transactions)
    assert raw_duplicates == 0, f"{raw_duplicates} duplicate verdicts without any fault"
    assert {v["model_version"] for v in verdicts} == {v1, v2}  # never v3 or v4
    for partition in {r.partition for r in records}:  # the swap is monotonic in processing order
        versions = [json.loads(r.value)["model_version"] for r in records if r.partition == partition]
        assert versions == sorted(versions, key=[v1, v2].index)
    assert status == 200
    assert json.loads(body)["champion"]["version"] == v2
    events = [json.loads(r.value) for r in read_topic(setup.settings, setup.topics.model_events)]
    failures = {(e["model_version"], e["kind"]) for e in events if e["kind"] == "load_failed"}
    assert failures == {(v3, "load_failed"), (v4, "load_failed")}
    assert 'fraudstream_scorer_model_load_failures_total{reason="bad_signature"} 1.0' in metrics
    assert 'fraudstream_scorer_model_load_failures_total{reason="incompatible_features"} 1.0' in metrics
    assert (
        f'fraudstream_scorer_model_info{{alias="champion",model="{setup.settings.model_name}",version="{v2}"}} 1.0'
        in metrics
    )


def register_alias(setup: ScorerSetup, version: str) -> None:
    from fraudcore.mlflow_store import connect
    from fraudcore.models import promote

    promote(connect(setup.settings), setup.settings.model_name, version)


def test_the_http_api_scores_reports_and_refuses_bad_requests(services: Settings, unique: str, tmp_path: Path) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    v1 = register(setup, train_bundle(seed=1))
    transaction = json.loads(encode(example_transaction()))
    other = transaction | {"transaction_id": "tx-000002"}
    worker = Worker(setup, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        score = worker.url("/score")
        status, body = http(score, json.dumps(transaction).encode())
        assert status == 200, body
        verdict = json.loads(body)
        assert verdict["model_version"] == v1
        assert 0 <= verdict["score"] <= 1
        assert verdict["decision"] in {"approve", "review", "decline"}
        assert verdict["features"]["customer_nb_tx_1d"] == 1.0
        again = json.loads(http(score, json.dumps(transaction).encode())[1])
        assert again["features"] == verdict["features"]

        recorded = worker.url("/score?record=true")
        for _ in range(2):
            status, body = http(recorded, json.dumps(transaction).encode(), token=setup.api_token)
            assert status == 200, body
            assert json.loads(body)["features"]["customer_nb_tx_1d"] == 1
        status, body = http(score, json.dumps([transaction, other]).encode())
        assert status == 200
        batch = [row["verdict"] for row in json.loads(body)["results"]]
        assert [v["transaction_id"] for v in batch] == ["tx-000001", "tx-000002"]
        assert batch[1]["features"]["customer_nb_tx_1d"] == 2.0  # sees the recorded one, not itself twice

        mixed = json.dumps([transaction, transaction | {"amount": "12.5"}]).encode()
        status, body = http(score + "?all_or_nothing=true", mixed)
        assert status == 400
        (problem,) = json.loads(body)["problems"]
        assert (problem["index"], problem["field"], problem["reason_code"]) == (1, "amount", "wrong_type")
        assert http(score, b"{not json")[0] == 400
        assert http(score, b"[]")[0] == 400

        status, body = http(worker.url("/model"))
        model = json.loads(body)
        assert status == 200
        assert model["champion"]["version"] == v1
        assert model["champion"]["validation"]["features_match"] is True
        assert http(worker.url("/health"))[0] == 200
        assert http(worker.url("/ready"))[0] == 200
        status, body = http(worker.url("/reload"), b"", token=setup.api_token)
        assert status == 200
        assert json.loads(body)["refreshes"][0]["swapped"] is False
        metrics = http(worker.url("/metrics"))[1].decode()
        assert "fraudstream_scorer_ready 1.0" in metrics
        assert 'fraudstream_scorer_model_refreshes_total{alias="champion",result="unchanged"}' in metrics
    finally:
        assert worker.stop() == 0, worker.log()


def test_without_a_champion_the_worker_refuses_to_start_and_says_why(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "fraudstream", "score"],
        env=setup.env(free_port()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert f"cannot serve models:/{setup.settings.model_name}@champion" in done.stderr
    assert "fraudstream demo" in done.stderr
