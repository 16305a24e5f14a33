"""The vectorized offline features equal a per-row reading of the semantics (tiles, replay order)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest

from fraudcore.features.definition import DAY_MS, FeatureSpec, LabelFacts, TxFacts, WindowCounts, feature_matrix
from fraudcore.features.memory import offline_features
from fraudcore.features.offline import NO_FRAUD, FraudIntervals, fraud_intervals, offline_feature_matrix

T0 = 1_522_540_800_000  # 2018-04-01T00:00:00Z, a day edge
HOUR = 3_600_000


@dataclass(frozen=True)
class Row:
    time: int
    cents: int
    customer: int
    terminal: int


def brute_force(rows: list[Row], fraud_from: list[list[tuple[int, int]]], spec: FeatureSpec) -> np.ndarray:
    """Per row, straight from the semantics: ``fraud_from[j]`` lists the intervals ``[start, end)`` of
    event times at which row ``j`` counts as fraud for a transaction scored then."""
    per_day, delay = spec.tiles_per_day, spec.label_delay_days
    counts = []
    for i, row in enumerate(rows):
        tile = row.time // spec.tile_ms
        recorded = [j for j, other in enumerate(rows) if (other.time, j) <= (row.time, i)]
        customer_count, customer_cents, terminal_count, terminal_fraud = [], [], [], []
        for days in spec.customer_windows_days:
            inside = [
                j
                for j in recorded
                if rows[j].customer == row.customer and tile - per_day * days < rows[j].time // spec.tile_ms <= tile
            ]
            customer_count.append(len(inside))
            customer_cents.append(sum(rows[j].cents for j in inside))
        for days in spec.terminal_windows_days:
            last = tile - per_day * delay
            inside = [
                j
                for j in recorded
                if rows[j].terminal == row.terminal and last - per_day * days < rows[j].time // spec.tile_ms <= last
            ]
            terminal_count.append(len(inside))
            terminal_fraud.append(sum(any(a <= row.time < b for a, b in fraud_from[j]) for j in inside))
        counts.append(
            WindowCounts(tuple(customer_count), tuple(customer_cents), tuple(terminal_count), tuple(terminal_fraud))
        )
    facts = [TxFacts(f"tx{i}", f"c{r.customer}", f"m{r.terminal}", r.time, r.cents) for i, r in enumerate(rows)]
    return feature_matrix(facts, counts, spec)


def random_rows(rng: random.Random, n: int, spec: FeatureSpec) -> list[Row]:
    """Few customers and terminals, times from a small pool at and around tile edges (many equal times)."""
    days = spec.label_delay_days + spec.terminal_windows_days[-1] + 2
    edges = [T0 + rng.randrange(days * spec.tiles_per_day) * spec.tile_ms for _ in range(12)]
    pool = sorted({edge + offset for edge in edges for offset in (0, 1, spec.tile_ms - 1, -1)})
    return [Row(rng.choice(pool), rng.randrange(1, 10_000), rng.randrange(3), rng.randrange(3)) for _ in range(n)]


def random_fraud_times(rng: random.Random, rows: list[Row], spec: FeatureSpec) -> list[int]:
    """Per row, ``NO_FRAUD`` or a fraud label's ``labeled_at`` at or after the row, near tile edges."""
    steps = [0, 1, spec.tile_ms, spec.label_delay_days * DAY_MS, spec.label_delay_days * DAY_MS + 1, 2 * DAY_MS]
    return [NO_FRAUD if rng.random() < 0.5 else r.time + rng.choice(steps) for r in rows]


SPECS = [
    FeatureSpec(customer_windows_days=(1, 2), terminal_windows_days=(1, 3), label_delay_days=delay, tile_minutes=tile)
    for delay in (0, 1)
    for tile in (60, 1440)
]


def _columns(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([r.time for r in rows], dtype=np.int64),
        np.array([r.cents for r in rows], dtype=np.int64),
        np.array([r.customer for r in rows], dtype=np.int64),
        np.array([r.terminal for r in rows], dtype=np.int64),
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"D{s.label_delay_days}-tile{s.tile_minutes}")
@pytest.mark.parametrize("seed", range(6))
def test_matrix_equals_the_brute_force(spec: FeatureSpec, seed: int) -> None:
    rng = random.Random(seed)
    rows = random_rows(rng, 150, spec)
    fraud_at = random_fraud_times(rng, rows, spec)
    expected = brute_force(rows, [[] if f == NO_FRAUD else [(f, NO_FRAUD)] for f in fraud_at], spec)
    actual = offline_feature_matrix(*_columns(rows), np.array(fraud_at, dtype=np.int64), spec)
    assert actual.dtype == np.float64
    assert actual.shape == (len(rows), len(spec.feature_names))
    np.testing.assert_array_equal(actual, expected)
    assert expected[:, 10::2].max() > 0  # some terminal risk counted


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"D{s.label_delay_days}-tile{s.tile_minutes}")
@pytest.mark.parametrize("seed", range(4))
def test_labels_replayed_equal_the_brute_force(spec: FeatureSpec, seed: int) -> None:
    """Labels before and after their transaction, corrections both ways, ties, unknown transactions."""
    rng = random.Random(100 + seed)
    rows = random_rows(rng, 120, spec)
    steps = [-1, 0, 1, HOUR, spec.label_delay_days * DAY_MS, DAY_MS + 1, 3 * DAY_MS]
    labels = [
        LabelFacts(f"tx{i}", rng.random() < 0.5, row.time + rng.choice(steps))
        for i, row in enumerate(rows)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3]))
    ]
    labels += [LabelFacts("elsewhere", True, T0)]
    rng.shuffle(labels)
    expected = brute_force(rows, [_replayed_intervals(i, row, labels) for i, row in enumerate(rows)], spec)
    facts = [TxFacts(f"tx{i}", f"c{r.customer}", f"m{r.terminal}", r.time, r.cents) for i, r in enumerate(rows)]
    np.testing.assert_array_equal(offline_features(facts, labels, spec), expected)


def _replayed_intervals(i: int, row: Row, labels: list[LabelFacts]) -> list[tuple[int, int]]:
    """When row ``i`` is fraud: at each time, its winning label among those dated in ``[row.time, t]``."""
    mine = [label for label in labels if label.transaction_id == f"tx{i}" and label.labeled_at_ms >= row.time]
    moments = sorted({label.labeled_at_ms for label in mine})
    intervals = []
    for k, moment in enumerate(moments):
        known = [label for label in mine if label.labeled_at_ms <= moment]
        winner = max(known, key=lambda label: (label.labeled_at_ms, label.is_fraud))
        if winner.is_fraud:
            intervals.append((moment, moments[k + 1] if k + 1 < len(moments) else NO_FRAUD))
    return intervals


def test_a_fraud_corrected_to_genuine_counts_only_in_between() -> None:
    spec = FeatureSpec(customer_windows_days=(1,), terminal_windows_days=(1,), label_delay_days=0)
    times = np.array([T0, T0 + HOUR, T0 + 3 * HOUR, T0 + 5 * HOUR], dtype=np.int64)
    intervals = fraud_intervals(
        np.array([0, 0, -1]), np.array([True, False, True]), np.array([T0 + 2 * HOUR, T0 + 4 * HOUR, T0]), times
    )
    assert intervals.rows.tolist() == [0]
    assert (intervals.start_ms.tolist(), intervals.end_ms.tolist()) == ([T0 + 2 * HOUR], [T0 + 4 * HOUR])
    zeros = np.zeros(4, dtype=np.int64)
    matrix = offline_feature_matrix(times, zeros + 100, zeros, zeros, intervals, spec)
    assert matrix[:, 6].tolist() == [0, 0, 1 / 3, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_keep_the_input_order_and_the_dtype(dtype: type[np.floating]) -> None:
    spec = SPECS[1]
    rng = random.Random(9)
    rows = [
        Row(T0 + rng.randrange(3 * DAY_MS), rng.randrange(1, 999), rng.randrange(3), rng.randrange(3))
        for _ in range(300)
    ]
    fraud_at = np.array(random_fraud_times(rng, rows, spec), dtype=np.int64)
    columns = _columns(rows)
    assert len(np.unique(columns[0])) == len(rows)  # distinct times: the replay order is the same shuffled
    expected = offline_feature_matrix(*columns, fraud_at, spec)
    shuffle = np.random.default_rng(1).permutation(len(rows))
    times, cents, customers, terminals = (column[shuffle] for column in columns)
    shuffled = offline_feature_matrix(times, cents, customers, terminals, fraud_at[shuffle], spec, dtype)
    assert shuffled.dtype == dtype
    np.testing.assert_array_equal(shuffled, expected[shuffle].astype(dtype))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"D{s.label_delay_days}-tile{s.tile_minutes}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_features_of_chosen_rows_equal_those_rows_of_the_whole_matrix(
    spec: FeatureSpec, dtype: type[np.floating]
) -> None:
    rng = random.Random(11)
    rows = random_rows(rng, 200, spec)
    fraud_at = np.array(random_fraud_times(rng, rows, spec), dtype=np.int64)
    expected = offline_feature_matrix(*_columns(rows), fraud_at, spec, dtype)
    picks = np.random.default_rng(2)
    for chosen in (
        np.arange(len(rows)),
        np.flatnonzero(picks.random(len(rows)) < 0.4),  # ascending
        picks.integers(0, len(rows), 70),  # any order, repeats
        np.zeros(0, dtype=np.int64),
    ):
        some = offline_feature_matrix(*_columns(rows), fraud_at, spec, dtype, rows=chosen)
        assert some.dtype == dtype
        np.testing.assert_array_equal(some, expected[chosen])
    with pytest.raises(ValueError, match="row indices below 200"):
        offline_feature_matrix(*_columns(rows), fraud_at, spec, rows=[200])


def test_sparse_codes_and_a_far_future_time_give_the_same_features() -> None:
    spec = SPECS[0]
    rows = random_rows(random.Random(3), 100, spec)
    times, cents, customers, terminals = _columns(rows)
    fraud_at = np.array(random_fraud_times(random.Random(3), rows, spec), dtype=np.int64)
    expected = offline_feature_matrix(times, cents, customers, terminals, fraud_at, spec)
    sparse = offline_feature_matrix(times, cents, customers * (1 << 40) - 7, terminals * -(1 << 50), fraud_at, spec)
    np.testing.assert_array_equal(sparse, expected)
    # one transaction far ahead makes the time span too long to pack: same features for the others
    far = offline_feature_matrix(
        np.append(times, 1 << 60),
        np.append(cents, 1),
        np.append(customers, 99),
        np.append(terminals, 99),
        np.append(fraud_at, NO_FRAUD),
        spec,
    )
    np.testing.assert_array_equal(far[:-1], expected)


def test_empty_input() -> None:
    empty = np.zeros(0, dtype=np.int64)
    matrix = offline_feature_matrix(empty, empty, empty, empty, empty, SPECS[0], np.float32)
    assert matrix.shape == (0, len(SPECS[0].feature_names))
    assert matrix.dtype == np.float32
    assert offline_features([], [], SPECS[0]).shape == (0, len(SPECS[0].feature_names))


def test_bad_columns_are_refused_clearly() -> None:
    one = np.array([T0], dtype=np.int64)
    with pytest.raises(ValueError, match="amount_cents has 2 rows"):
        offline_feature_matrix(one, np.array([1, 2]), one, one, one)
    with pytest.raises(ValueError, match="before its transaction"):
        offline_feature_matrix(one, one, one, one, one - 1)
    with pytest.raises(ValueError, match="must hold integers"):
        offline_feature_matrix(one, np.array([1.5]), one, one, one)
    with pytest.raises(ValueError, match="within"):
        offline_feature_matrix(np.array([1 << 62]), one, one, one, np.array([NO_FRAUD]))
    with pytest.raises(ValueError, match="row indices"):
        offline_feature_matrix(one, one, one, one, FraudIntervals(np.array([1]), one, one))


def test_duplicate_transaction_ids_are_refused() -> None:
    tx = TxFacts("a", "c", "m", T0, 100)
    with pytest.raises(ValueError, match="'a' appears twice"):
        offline_features([tx, tx], [])
