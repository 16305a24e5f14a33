"""The numbers: the trainer's evaluation on the same rows, and the same JSON bytes every time."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from backtest.history import Collector
from backtest.results import BacktestNumbers, results_document, write_json
from fraudcore.evaluation import evaluate, threshold_report
from fraudcore.event_clock import EventClock
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, LabelFacts, TxFacts, epoch_ms
from tests.unit.backtest.pipeline import DECLINE, REVIEW, numbers
from tests.unit.backtest.simulated import NOW, RANGE, events, models, topic_records, unzip
from trainer.history import History
from trainer.training import build_dataset


def _numbers() -> BacktestNumbers:
    return numbers()


def _document(data: BacktestNumbers) -> Any:
    """The JSON document as ``json.loads`` gives it back."""
    return json.loads(json.dumps(results_document(data)))


def test_the_numbers_equal_the_trainers_evaluation_of_the_same_rows() -> None:
    transactions, labels = events()
    history = History(
        clock=EventClock(window=1)
    )  # the clock at the latest transaction: every label of the range counts
    start = RANGE.replay_from_ms(DEFAULT_SPEC)
    for transaction in transactions:
        if start <= epoch_ms(transaction.event_time) < RANGE.end_ms:
            history.add_transaction(transaction)
    for label in labels:
        history.add_label(label)
    snapshot = history.snapshot()
    data = build_dataset(snapshot)  # its features; the labels are joined here, all of them known
    in_range = (data.day * DAY_MS >= RANGE.start_ms) & (data.day * DAY_MS < RANGE.end_ms)
    known_labels = {label.transaction_id: label for label in map(LabelFacts.of, labels)}
    rows = snapshot.transactions()
    fraud = np.array([known_labels[t.transaction_id].is_fraud for t in rows])
    evaluated = in_range & ~_known_compromised(data.customer, fraud, rows, known_labels, data.day)
    document = _document(_numbers())
    assert document["rows"]["evaluated"] == int(evaluated.sum())
    for model, result in zip(models(), document["models"], strict=True):
        scores = model.loaded.bundle.score(data.matrix[evaluated])
        cents = np.array([round(a * 100) for a in data.amount[evaluated]])
        expected = evaluate(
            fraud[evaluated],
            scores,
            day=data.day[evaluated],
            customer=data.customer[evaluated],
            scenario=data.scenario[evaluated],
            amounts=cents,
            threshold=REVIEW,
        )
        assert result["review"] == expected.as_dict()
        decline = threshold_report(fraud[evaluated], scores, DECLINE, amounts=cents, day=data.day[evaluated])
        assert result["decline"]["precision"] == _json(decline.precision)
        assert result["decline"]["recall"] == _json(decline.recall)
        assert result["decline"]["alerts"] == decline.alerts
        assert result["decline"]["fraud_amount_caught"] == decline.fraud_amount_caught
        assert result["decline"]["fraud_amount_missed"] == decline.fraud_amount_missed


def _json(value: float) -> float | None:
    return None if math.isnan(value) else value


def _known_compromised(
    customer: np.ndarray, fraud: np.ndarray, transactions: list[TxFacts], labels: dict[str, LabelFacts], day: np.ndarray
) -> np.ndarray:
    """Cards with a fraud labelled before the row's day (computed here, independently)."""
    first: dict[int, int] = {}
    for tx, card, is_fraud in zip(transactions, customer.tolist(), fraud.tolist(), strict=True):
        if is_fraud:
            at = labels[tx.transaction_id].labeled_at_ms
            first[card] = min(at, first.get(card, at))
    return np.array([first.get(c, 2**62) < d * DAY_MS for c, d in zip(customer.tolist(), day.tolist(), strict=True)])


def test_the_json_is_the_same_bytes_whatever_order_the_partitions_are_read_in(tmp_path: Path) -> None:
    transactions, labels = events()
    backwards = Collector(RANGE.replay_from_ms(DEFAULT_SPEC), RANGE.end_ms, NOW)
    for partition, records in sorted(topic_records(labels).items(), reverse=True):
        backwards.add_labels(partition, *unzip(records))
    for partition, records in sorted(topic_records(transactions).items(), reverse=True):
        backwards.add_transactions(partition, *unzip(records))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    write_json(first, results_document(_numbers()))
    write_json(second, results_document(numbers(backwards)))
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text())["range"]["from"] == "2018-05-09T00:00:00Z"


def test_alert_volume_counts_every_transaction_in_range_and_scores_are_binned() -> None:
    result = _numbers().results[1]
    rows = _numbers().rows
    everything = threshold_report(
        rows.data.is_fraud[rows.in_range], result.scores, REVIEW, day=rows.data.day[rows.in_range]
    )
    assert result.alert_volume["review"].alerts_per_day == everything.alerts_per_day
    assert result.alert_volume["review"].alerts >= result.evaluation.threshold.alerts
    document = _document(_numbers())
    model = document["models"][1]
    distribution = model["score_distribution"]
    assert sum(distribution["fraud"]) + sum(distribution["genuine"]) == document["rows"]["evaluated"]


def test_cards_known_compromised_are_left_out_unless_kept() -> None:
    left_out, kept = _document(_numbers()), _document(numbers(keep_known_compromised=True))
    rows_left, rows_kept = left_out["rows"], kept["rows"]
    assert rows_left["known_compromised"] == rows_kept["known_compromised"] > 0
    assert rows_kept["evaluated"] == rows_left["evaluated"] + rows_left["known_compromised"]
    assert kept["known_compromised_cards"] == "kept"


def test_no_value_in_the_json_depends_on_the_run() -> None:
    text = json.dumps(_document(_numbers()), allow_nan=False)
    assert "generated" not in text
    assert "seconds" not in text
    assert "memory" not in text
