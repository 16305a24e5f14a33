"""Inputs with bounds and labels with rules, end to end: a running worker on real Kafka and Redis
dead-letters back-dated, far-future and conflicting transactions, labels dated before their
transaction and labels dated far ahead of the stream, with their reasons and original bytes; a label
correction reaches the terminal's risk."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.settings import Settings
from schemas.codec import Decoded, decode_dead_letter, encode
from schemas.dead_letter import DeadLetter
from schemas.enums import LabelSource
from schemas.events import Label, Transaction
from schemas.examples import example_transaction
from tests.integration.scorer_harness import (
    Worker,
    http,
    payloads,
    produce,
    read_topic,
    register,
    scorer_setup,
    train_bundle,
    wait_for_records,
)

T0 = example_transaction().event_time  # 2018: a replayed stream, years behind the wall clock
D = timedelta(days=DEFAULT_SPEC.label_delay_days)


def _tx(tx_id: str, at: datetime, customer: str = "c1", terminal: str = "m1", amount: float = 20.0) -> Transaction:
    return example_transaction().model_copy(
        update={
            "transaction_id": tx_id,
            "event_time": at,
            "customer_id": customer,
            "terminal_id": terminal,
            "amount": amount,
        }
    )


def _label(tx_id: str, is_fraud: bool, at: datetime, of: Transaction | None = None) -> Label:
    """A chargeback label; ``of``: carrying that transaction's terminal and time."""
    return Label(
        transaction_id=tx_id,
        is_fraud=is_fraud,
        labeled_at=at,
        source=LabelSource.CHARGEBACK,
        terminal_id=None if of is None else of.terminal_id,
        transaction_time=None if of is None else of.event_time,
    )


def _metric(worker: Worker, prefix: str) -> float:
    body = http(worker.url("/metrics"))[1].decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(prefix))


def _wait_metric(worker: Worker, prefix: str, at_least: float, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while _metric(worker, prefix) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{prefix} stayed below {at_least}:\n{worker.log()}")
        time.sleep(0.3)


def _letters(settings: Settings, topic: str) -> list[DeadLetter]:
    decoded = [decode_dead_letter(r.value, now=datetime.now(UTC)) for r in read_topic(settings, topic)]
    assert all(isinstance(letter, Decoded) for letter in decoded)
    return [letter.event for letter in decoded if isinstance(letter, Decoded)]


def _verdict(records: list[Any], tx_id: str) -> list[dict[str, Any]]:
    return [v for v in payloads(records) if v["transaction_id"] == tx_id]


def test_bad_inputs_are_dead_lettered_and_a_chargeback_reaches_the_terminal_risk(
    services: Settings, unique: str, tmp_path: Path
) -> None:
    setup = scorer_setup(services, unique, tmp_path, partitions=1)
    register(setup, train_bundle(seed=1))
    settings, topics = setup.settings, setup.topics
    # the stream's clock: honest traffic over a day; "victim" at terminal m9 gets a label correction
    honest = [_tx(f"h{i}", T0 + timedelta(minutes=15 * i), customer=f"c{i % 7}") for i in range(100)]
    victim = _tx("victim", T0 + timedelta(hours=1), customer="v", terminal="m9")
    squatter = _tx("real", T0 + timedelta(hours=2), customer="mallory", terminal="m1", amount=1.0)
    real = _tx("real", T0 + timedelta(hours=2), customer="alice", terminal="m2", amount=950.0)
    back_dated = _tx("old", T0 - timedelta(milliseconds=DEFAULT_SPEC.claim_horizon_ms) - timedelta(days=1))
    future = _tx("future", datetime.now(UTC) + timedelta(days=3))
    almost_future = [_tx(f"f{i}", datetime.now(UTC) + timedelta(hours=20)) for i in range(5)]
    early_label = _label("h3", True, T0)  # h3 is at T0 + 45 min
    # held for a transaction not seen yet (it carries its time), dropped when that arrives dated after it
    held_tx = _tx("held", T0 + timedelta(hours=3), customer="y", terminal="m7")
    held_early = _label("held", True, T0, held_tx)
    genuine, chargeback = (
        _label("victim", False, T0 + timedelta(days=1)),
        _label("victim", True, T0 + timedelta(hours=36)),  # within a day of the newest transactions
    )
    forged = _label("victim", False, datetime.now(UTC))
    probe = _tx("probe", T0 + D + timedelta(hours=12), customer="p", terminal="m9")
    late_at = T0 + timedelta(hours=20)

    worker = Worker(setup, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        produce(settings, [*honest, victim, squatter])
        wait_for_records(settings, topics.verdicts, len(honest) + 2, 60, worker)
        # a squatter's id, then the real transaction; a far-future, a back-dated one, and a handful of
        # forged times within the decoder's tolerance that must not make honest traffic stale
        produce(settings, [real, back_dated, future, *almost_future, squatter])
        produce(settings, [_tx("h-late", late_at)])
        records = wait_for_records(settings, topics.verdicts, len(honest) + 2 + 5 + 2, 60, worker)

        status, body = http(worker.url("/score?record=true"), encode(real), token=setup.api_token)
        assert status == 409, body
        [problem] = json.loads(body)["problems"]
        assert problem["reason_code"] == "conflicting_duplicate"
        assert "amount, customer_id, terminal_id" in problem["message"]  # told to a caller with the token
        # a read-only peek without the token learns that the id exists, not which facts differ
        for guess in (real, real.model_copy(update={"customer_id": "mallory"})):
            status, body = http(worker.url("/score"), encode(guess))
            assert status == 409, body
            [problem] = json.loads(body)["problems"]
            assert problem["reason_code"] == "conflicting_duplicate"
            assert (
                problem["message"] == "transaction_id: this transaction id was recorded with other content;"
                " it is not scored"
            )
        status, body = http(worker.url("/score"), encode(back_dated))
        assert status == 400, body
        assert json.loads(body)["problems"][0]["reason_code"] == "stale_event_time"

        # labels: one dated before its transaction; "genuine" (over no fraud label: nothing kept), then
        # the chargeback
        produce(settings, [early_label, genuine, held_early])
        _wait_metric(worker, "fraudstream_scorer_labels_total{", 3)
        before = json.loads(http(worker.url("/score"), encode(probe))[1])["features"]
        assert (before["terminal_nb_tx_1d"], before["terminal_risk_1d"]) == (1.0, 0.0)
        produce(settings, [chargeback])
        _wait_metric(worker, 'fraudstream_scorer_labels_total{outcome="recorded"}', 2)
        # a forged "genuine" dated today: accepted by the decoder, years ahead of the replayed stream,
        # it would beat every real label under "the latest wins"
        produce(settings, [forged])
        _wait_metric(worker, 'fraudstream_scorer_dead_letters_total{reason="implausible_time"}', 2)
        produce(settings, [probe, held_tx])
        records = wait_for_records(settings, topics.verdicts, len(records) + 2, 60, worker)
        _wait_metric(worker, 'fraudstream_scorer_labels_total{outcome="dropped_before_transaction"}', 1)
        metrics = http(worker.url("/metrics"))[1].decode()
    finally:
        assert worker.stop() == 0, worker.log()

    [after] = _verdict(records, "probe")
    assert (after["features"]["terminal_nb_tx_1d"], after["features"]["terminal_risk_1d"]) == (1.0, 1.0)

    # the squatter keeps its verdict (redelivered: the same one); the real one is never scored
    squatted = _verdict(records, "real")
    assert len(squatted) == 2
    assert squatted[0]["customer_id"] == squatted[1]["customer_id"] == "mallory"
    assert squatted[0]["score"] == squatted[1]["score"]
    assert squatted[0]["features"] == squatted[1]["features"]
    # the forged future times (customer c1, terminal m1) did not make it stale, nor prune c1's history
    [late] = _verdict(records, "h-late")
    assert late["features"]["customer_nb_tx_1d"] == 1 + sum(
        1 for t in honest if t.customer_id == "c1" and t.event_time <= late_at
    )
    assert len({v["transaction_id"] for v in payloads(records)}) == len(honest) + 2 + 5 + 3
    assert 'fraudstream_scorer_labels_total{outcome="held"} 1.0' in metrics

    letters = {
        (letter.source_topic, letter.reason_code.value): letter for letter in _letters(settings, topics.dead_letters)
    }
    expected = {
        (topics.transactions, "conflicting_duplicate"): encode(real),
        (topics.transactions, "stale_event_time"): encode(back_dated),
        (topics.transactions, "implausible_time"): encode(future),
        (topics.labels, "label_before_transaction"): encode(early_label),
        (topics.labels, "implausible_time"): encode(forged),
    }
    assert {key: letter.original_value() for key, letter in letters.items()} == expected
    assert "alice" not in letters[topics.transactions, "conflicting_duplicate"].reason
    assert "customer_id" in letters[topics.transactions, "conflicting_duplicate"].reason
    assert "event_time" in letters[topics.transactions, "implausible_time"].reason
    for reason in ("conflicting_duplicate", "stale_event_time", "label_before_transaction"):
        assert f'fraudstream_scorer_dead_letters_total{{reason="{reason}"}} 1.0' in metrics
    assert 'fraudstream_scorer_dead_letters_total{reason="implausible_time"} 2.0' in metrics
    assert "fraudstream_scorer_label_corrections_total 0.0" in metrics
    assert 'fraudstream_scorer_labels_total{outcome="recorded"} 2.0' in metrics
