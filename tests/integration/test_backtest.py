"""``fraudstream backtest`` against a real broker, Redis and MLflow store holding simulated history."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import redis

from backtest.verdicts import HEADER
from fraudcore.evaluation import JsonValue, evaluate
from fraudcore.event_clock import EventClock
from fraudcore.features.definition import DEFAULT_SPEC, epoch_ms
from fraudcore.model_kind import ModelKind
from fraudcore.models import ModelBundle
from fraudcore.settings import Settings
from fraudstream.cli import main
from producer.simulator import SimulationParams
from schemas.codec import Decoded, decode
from schemas.events import Label, Transaction, Verdict
from tests.integration.backtest_harness import (
    commit_half,
    committed,
    consumer_groups,
    dump_dom,
    keep_old_records,
    produce_at_event_times,
    use_setup,
)
from tests.integration.scorer_harness import (
    offline,
    produce,
    read_topic,
    register,
    scorer_setup,
    simulated,
)
from trainer.fitting import fit_bundle
from trainer.history import History
from trainer.training import build_dataset

PARAMS = SimulationParams(seed=31, n_customers=300, n_terminals=600, days=45)
FROM, TO = datetime(2018, 5, 8, tzinfo=UTC), datetime(2018, 5, 15, tzinfo=UTC)


def _range_args(start: datetime, end: datetime) -> list[str]:
    return ["--from", start.date().isoformat(), "--to", end.date().isoformat(), "--quiet"]


def _independent_reviews(
    transactions: list[Transaction], labels: list[Label], bundles: list[ModelBundle], settings: Settings
) -> list[dict[str, JsonValue]]:
    """The trainer's dataset and evaluation on the rows the backtest claims to use: transactions from
    the look-back start to the range end, every label known, evaluated in range minus the cards
    already known compromised."""
    clock = EventClock(window=1)
    history = History(clock=clock)
    replay_from = FROM - timedelta(days=30 + DEFAULT_SPEC.label_delay_days)
    for transaction in transactions:
        if replay_from <= transaction.event_time < TO:
            history.add_transaction(transaction)
    clock.observe([epoch_ms(datetime(2100, 1, 1, tzinfo=UTC))])  # every label known: none waits for the clock
    for label in labels:
        history.add_label(label)
    snapshot = dataclasses.replace(history.snapshot(), clock_ms=epoch_ms(datetime(2100, 1, 1, tzinfo=UTC)))
    data = build_dataset(snapshot)
    times = snapshot.event_time_ms
    in_range = (times >= epoch_ms(FROM)) & (times < epoch_ms(TO))
    evaluated = in_range & data.labelled & ~data.known_compromised()
    return [
        evaluate(
            data.is_fraud[evaluated],
            bundle.score(data.matrix[evaluated]),
            day=data.day[evaluated],
            customer=data.customer[evaluated],
            scenario=data.scenario[evaluated],
            amounts=np.rint(data.amount[evaluated] * 100).astype(np.int64),
            threshold=settings.review_threshold,
        ).as_dict()
        for bundle in bundles
    ]


def _fitted(transactions: list[Transaction], labels: list[Label], until: datetime) -> list[ModelBundle]:
    """Two models of different kinds, trained on the history before ``until``."""
    matrix = offline(transactions, labels)
    before = np.array([t.event_time < until for t in transactions])
    fraud = np.array([t.fraud_scenario != 0 for t in transactions])
    return [
        fit_bundle(matrix[before], fraud[before], kind=ModelKind.LOGISTIC, seed=1),
        fit_bundle(matrix[before], fraud[before], kind=ModelKind.BOOSTING, seed=2, params={"max_iter": 50}),
    ]


def test_two_versions_are_backtested_reported_and_rerun_identically_without_touching_live_state(
    services: Settings, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    settings, topics = setup.settings, setup.topics
    use_setup(monkeypatch, setup)
    transactions, labels = simulated(PARAMS)
    invalid = [
        (topics.transactions, b"c1", b"{broken"),
        (topics.transactions, b"c2", None),
        (topics.labels, None, b"[]"),
    ]
    produce(settings, [*transactions, *labels, *invalid])  # in a burst: Kafka timestamps are produce times
    bundles = _fitted(transactions, labels, FROM - timedelta(days=DEFAULT_SPEC.label_delay_days))
    champion = register(setup, bundles[0])
    challenger = register(setup, bundles[1], champion=False)

    live_group = f"live-{unique}"
    live_offsets = commit_half(settings, live_group, topics.transactions)
    groups = consumer_groups(settings)

    name = settings.model_name
    models = ["--model", f"models:/{name}@champion", "--model", f"models:/{name}/{challenger}"]
    runs = [tmp_path / "first", tmp_path / "second"]
    verdicts_topic = f"bt{unique}.verdicts"
    assert (
        main(
            ["backtest", *_range_args(FROM, TO), *models, "--output", str(runs[0]), "--verdicts-topic", verdicts_topic]
        )
        == 0
    )
    summary = capsys.readouterr().out
    assert main(["backtest", *_range_args(FROM, TO), *models, "--output", str(runs[1])]) == 0
    capsys.readouterr()

    # A rerun gives the same bytes.
    first = (runs[0] / "backtest.json").read_bytes()
    assert (runs[1] / "backtest.json").read_bytes() == first

    # The numbers are the trainer's evaluation of the same rows, computed here from the simulation.
    document = json.loads(first)
    assert [(m["ref"], m["version"]) for m in document["models"]] == [
        (f"models:/{name}@champion", champion),
        (f"models:/{name}/{challenger}", challenger),
    ]
    expected = _independent_reviews(transactions, labels, bundles, settings)
    assert [model["review"] for model in document["models"]] == expected
    in_range = sum(1 for t in transactions if FROM <= t.event_time < TO)
    assert document["rows"]["in_range"] == in_range
    assert document["read"]["transactions"]["invalid"] == {"total": 2, "by_reason": {"empty": 1, "invalid_json": 1}}
    assert document["read"]["labels"]["invalid"] == {"total": 1, "by_reason": {"wrong_type": 1}}
    assert document["models"][1]["review"]["average_precision"] > 0.2

    # The summary names both models and the rate; the report renders with every plot.
    assert f"models:/{name}@champion (v{champion})" in summary
    assert f"models:/{name}/{challenger}" in summary
    assert re.search(r"replay: [\d,]+ transactions at [\d,]+/s", summary), summary
    assert "2 invalid transactions (empty 1, invalid_json 1); 1 invalid labels (wrong_type 1)" in summary
    dom = dump_dom(runs[0] / "backtest.html", tmp_path / "browser")
    check = re.search(r'<p id="render-check"[^>]*data-images="(\d+)"[^>]*data-decoded="(\d+)"', dom)
    assert check is not None, dom[:2000]
    assert check.group(1) == check.group(2) == "5"

    # No live group moved and no group was created.
    assert committed(settings, live_group) == live_offsets
    assert consumer_groups(settings) == groups

    # The verdicts: one per model and transaction in range, keyed by transaction id.
    records = read_topic(settings, verdicts_topic)
    assert len(records) == 2 * in_range
    verdicts = [decode(r.value, Verdict, now=datetime.now(UTC)) for r in records]
    assert all(isinstance(v, Decoded) for v in verdicts)
    by_version: dict[str, int] = {}
    for record, verdict in zip(records, verdicts, strict=True):
        assert isinstance(verdict, Decoded)
        assert record.key == verdict.event.transaction_id.encode()
        by_version[verdict.event.model_version] = by_version.get(verdict.event.model_version, 0) + 1
        assert dict(record.headers)[HEADER].startswith(b"models:/")
    assert by_version == {champion: in_range, challenger: in_range}


def test_history_stamped_at_event_times_is_read_from_the_range_and_bad_input_is_refused(
    services: Settings, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = scorer_setup(services, unique, tmp_path)
    settings = setup.settings
    use_setup(monkeypatch, setup)
    params = SimulationParams(seed=32, n_customers=120, n_terminals=240, days=60)
    transactions, labels = simulated(params)
    labels_so_far = [label for label in labels if label.labeled_at < params.start + timedelta(days=50)]
    keep_old_records(settings, [setup.topics.transactions, setup.topics.labels])
    produce_at_event_times(settings, [*transactions, *labels_so_far])
    matrix = offline(transactions, labels)
    version = register(setup, fit_bundle(matrix, np.array([t.fraud_scenario != 0 for t in transactions])))

    store = redis.Redis.from_url(settings.redis_connection_url)
    store.set(f"{settings.redis_namespace}:sentinel", b"live")

    start, end = params.start + timedelta(days=40), params.start + timedelta(days=43)
    memory, in_redis = tmp_path / "memory", tmp_path / "redis"
    assert main(["backtest", *_range_args(start, end), "--output", str(memory)]) == 0
    assert main(["backtest", *_range_args(start, end), "--output", str(in_redis), "--store", "redis"]) == 0
    assert "namespace " + settings.redis_namespace + "-backtest-" in (in_redis / "backtest.html").read_text()
    capsys.readouterr()

    # The online store's code in a namespace of its own gives the same numbers; the live one is untouched.
    assert (in_redis / "backtest.json").read_bytes() == (memory / "backtest.json").read_bytes()
    live_keys = [key.decode() for key in store.scan_iter(f"{settings.redis_namespace}:*")]
    assert live_keys == [f"{settings.redis_namespace}:sentinel"]
    assert list(store.scan_iter(f"{settings.redis_namespace}-backtest-*")) == []  # deleted afterwards
    store.close()

    document = json.loads((memory / "backtest.json").read_text())
    replay_from = start - timedelta(days=37)
    assert document["rows"]["replayed"] == sum(1 for t in transactions if replay_from <= t.event_time < end)
    read = document["read"]["transactions"]["records"]
    assert 0 < read < len(transactions)  # offsets-for-times skipped what lies before the look-back
    assert document["models"][0]["version"] == version

    name = settings.model_name
    cases = [
        (["--model", f"models:/{name}/99"], 2, f"model '{name}' has no version 99"),
        (["--model", f"models:/{name}@nope"], 2, f"model '{name}' has no alias 'nope'"),
        (["--model", "models:/no-such-model@champion"], 2, "no registered model named 'no-such-model'"),
    ]
    for extra, code, message in cases:
        assert main(["backtest", *_range_args(start, end), "--output", str(tmp_path / "x"), *extra]) == code
        assert message in capsys.readouterr().err
    no_labels = _range_args(params.start + timedelta(days=52), params.start + timedelta(days=55))
    assert main(["backtest", *no_labels, "--output", str(tmp_path / "y")]) == 1
    assert "has a label" in capsys.readouterr().err
    empty = _range_args(datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 1, 8, tzinfo=UTC))
    assert main(["backtest", *empty, "--output", str(tmp_path / "z")]) == 1
    assert "no transaction in" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
