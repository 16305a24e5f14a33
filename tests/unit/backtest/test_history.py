"""Collecting topic records: strict decoding, invalid events counted, redeliveries, the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from backtest.history import Collector
from fraudcore.features.definition import DEFAULT_SPEC, TxFacts, epoch_ms
from schemas.codec import encode
from schemas.events import Transaction
from tests.unit.backtest.simulated import NOW, RANGE, FakeRecord, collect, events, topic_records, unzip


def test_the_window_is_the_range_plus_the_look_back_and_rows_are_in_event_time_order() -> None:
    collector = collect()
    history = collector.history()
    transactions, labels = events()
    start, end = RANGE.replay_from_ms(DEFAULT_SPEC), RANGE.end_ms
    expected = sorted(
        (f for f in map(TxFacts.of, transactions) if start <= f.event_time_ms < end),
        key=lambda f: (f.event_time_ms, f.transaction_id),
    )
    assert history.transactions == expected
    assert collector.stats.outside_window == len(transactions) - len(expected)
    assert set(history.labels) == {f.transaction_id for f in expected}  # every kept transaction is labelled
    assert collector.stats.records == {"transactions": len(transactions), "labels": len(labels)}
    assert collector.stats.first_event_ms == epoch_ms(transactions[0].event_time)
    assert len(history.scenarios) == len(expected)


def test_invalid_records_are_counted_by_reason_and_skipped() -> None:
    transactions, labels = events()
    bad: dict[int, list[bytes | None]] = {0: [b"{not json", None, b'{"schema_version":1}'], 2: [b""]}
    collector = Collector(RANGE.replay_from_ms(DEFAULT_SPEC), RANGE.end_ms, NOW)
    for partition, records in topic_records(transactions, bad).items():
        collector.add_transactions(partition, *unzip(records))
    for partition, records in topic_records(labels, {1: [b"[]"]}).items():
        collector.add_labels(partition, *unzip(records))
    assert collector.stats.invalid["transactions"] == {"invalid_json": 1, "empty": 2, "missing_field": 1}
    assert collector.stats.invalid["labels"] == {"wrong_type": 1}
    mine, clean = collector.history(), collect().history()
    assert mine.transactions == clean.transactions
    assert mine.labels == clean.labels
    np.testing.assert_array_equal(mine.scenarios, clean.scenarios)


def test_a_redelivered_transaction_keeps_the_first_copy_whatever_the_read_order() -> None:
    transactions, _ = events()
    inside = next(t for t in transactions if RANGE.contains(epoch_ms(t.event_time)))
    changed = inside.model_copy(update={"amount": inside.amount + 1})
    for order in ((0, 1), (1, 0)):
        collector = Collector(RANGE.replay_from_ms(DEFAULT_SPEC), RANGE.end_ms, NOW)
        copies = {0: [FakeRecord(5, encode(inside))], 1: [FakeRecord(2, encode(changed))]}
        for partition in order:
            collector.add_transactions(partition, *unzip(copies[partition]))
        (kept,) = collector.history().transactions
        assert kept == TxFacts.of(inside)
        assert collector.stats.duplicates["transactions"] == 1


def test_the_latest_label_of_a_transaction_wins() -> None:
    transactions, labels = events()
    label = next(lb for lb in labels if RANGE.contains(epoch_ms(lb.labeled_at - timedelta(days=7))))
    transaction = next(t for t in transactions if t.transaction_id == label.transaction_id)
    corrected = label.model_copy(
        update={"is_fraud": not label.is_fraud, "labeled_at": label.labeled_at + timedelta(days=1)}
    )
    collector = Collector(RANGE.replay_from_ms(DEFAULT_SPEC), RANGE.end_ms, NOW)
    collector.add_transactions(0, *unzip([FakeRecord(0, encode(transaction))]))
    collector.add_labels(1, *unzip([FakeRecord(9, encode(corrected))]))
    collector.add_labels(1, *unzip([FakeRecord(3, encode(label))]))  # older, read later: does not overwrite
    assert collector.history().labels[label.transaction_id].is_fraud == corrected.is_fraud
    assert collector.stats.duplicates["labels"] == 1


def test_labels_dated_before_their_transaction_are_left_out() -> None:
    transactions, labels = events()
    label = next(lb for lb in labels if RANGE.contains(epoch_ms(lb.labeled_at - timedelta(days=7))))
    transaction = next(t for t in transactions if t.transaction_id == label.transaction_id)
    early = label.model_copy(update={"labeled_at": transaction.event_time - timedelta(seconds=1)})
    collector = Collector(RANGE.replay_from_ms(DEFAULT_SPEC), RANGE.end_ms, NOW)
    collector.add_transactions(0, *unzip([FakeRecord(0, encode(transaction))]))
    collector.add_labels(1, *unzip([FakeRecord(3, encode(early))]))
    assert label.transaction_id not in collector.history().labels
    assert collector.stats.labels_before_transaction == 1


def test_a_forged_future_genuine_label_does_not_replace_the_real_chargeback() -> None:
    _, labels = events()
    real = next(lb for lb in labels if lb.is_fraud and RANGE.contains(epoch_ms(lb.labeled_at - timedelta(days=7))))
    forged = real.model_copy(update={"is_fraud": False, "labeled_at": datetime(2026, 12, 8, tzinfo=UTC)})
    collector = collect()
    collector.add_labels(0, *unzip([FakeRecord(10**6, encode(forged))]))  # read after the real one: latest labeled_at
    assert collector.history().labels[real.transaction_id].is_fraud
    assert collector.stats.labels_ahead == 1
    assert collect().history().labels == collector.history().labels


def test_rows_are_ordered_by_event_time_then_id_and_each_id_keeps_its_lowest_partition_and_offset() -> None:
    rng = np.random.default_rng(3)
    start = RANGE.start_ms
    ids = [f"t{rng.integers(0, 10**9)}-{i}" for i in range(300)]
    times = start + rng.integers(0, 5, len(ids)) * 60_000  # five event times: most rows tie with others
    copies: dict[int, list[FakeRecord]] = {0: [], 1: [], 2: []}
    expected: dict[str, tuple[tuple[int, int], TxFacts]] = {}
    for i in rng.permutation(len(ids)).tolist():
        for copy in range(int(rng.integers(1, 4))):
            partition = int(rng.integers(0, 3))
            offset = len(copies[partition]) + int(rng.integers(0, 3))
            moment = datetime.fromtimestamp(int(times[i]) / 1000, tz=UTC)
            tx = Transaction(
                transaction_id=ids[i],
                event_time=moment,
                customer_id=f"c{i % 7}",
                terminal_id=f"m{i % 11}",
                amount=1 + copy,  # a redelivery with other facts: only the first copy counts
            )
            copies[partition].append(FakeRecord(offset, encode(tx)))
            first = expected.get(ids[i])
            if first is None or (partition, offset) < first[0]:
                expected[ids[i]] = ((partition, offset), TxFacts.of(tx))
    collector = Collector(RANGE.replay_from_ms(DEFAULT_SPEC), RANGE.end_ms, NOW)
    for partition in (2, 0, 1):
        collector.add_transactions(partition, *unzip(copies[partition]))
    history = collector.history()
    assert history.transactions == sorted(
        (facts for _, facts in expected.values()), key=lambda f: (f.event_time_ms, f.transaction_id)
    )
    assert collector.stats.duplicates["transactions"] == sum(map(len, copies.values())) - len(ids)
    pairs = set(zip(history.customer_id.to_pylist(), history.customer.tolist(), strict=True))
    assert len(pairs) == len({code for _, code in pairs}) == len({card for card, _ in pairs}) == 7  # id <=> code


def test_the_facts_of_chosen_rows_are_those_rows_in_the_order_given() -> None:
    history = collect().history()
    rows = np.array([5, 0, len(history) - 1, 5])
    assert history.facts(rows) == [history.transactions[row] for row in rows.tolist()]
    assert history.facts(np.zeros(0, dtype=np.int64)) == []
