"""The feature definition: spec validation, names, digest, facts of events, the feature matrix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from fraudcore.features.definition import (
    DAY_MS,
    DEFAULT_SPEC,
    FEATURE_NAMES,
    FeatureSpec,
    LabelFacts,
    TxFacts,
    WindowCounts,
    epoch_ms,
    feature_matrix,
)
from schemas.examples import example_label, example_transaction

EXPECTED_NAMES = (
    "amount",
    "is_weekend",
    "is_night",
    "customer_nb_tx_1d",
    "customer_avg_amount_1d",
    "customer_nb_tx_7d",
    "customer_avg_amount_7d",
    "customer_nb_tx_30d",
    "customer_avg_amount_30d",
    "terminal_nb_tx_1d",
    "terminal_risk_1d",
    "terminal_nb_tx_7d",
    "terminal_risk_7d",
    "terminal_nb_tx_30d",
    "terminal_risk_30d",
)


def test_default_feature_names_in_order() -> None:
    assert FEATURE_NAMES == EXPECTED_NAMES
    assert DEFAULT_SPEC.feature_names == EXPECTED_NAMES


def test_feature_names_follow_the_windows() -> None:
    spec = FeatureSpec(customer_windows_days=(2,), terminal_windows_days=(3, 14))
    assert spec.feature_names == (
        "amount",
        "is_weekend",
        "is_night",
        "customer_nb_tx_2d",
        "customer_avg_amount_2d",
        "terminal_nb_tx_3d",
        "terminal_risk_3d",
        "terminal_nb_tx_14d",
        "terminal_risk_14d",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_windows_days": ()}, "customer_windows_days must not be empty"),
        ({"customer_windows_days": [1, 7]}, "customer_windows_days must be a tuple of int"),
        ({"terminal_windows_days": (1, True)}, "terminal_windows_days must be a tuple of int"),
        ({"terminal_windows_days": (0, 7)}, "terminal_windows_days must be positive and strictly increasing"),
        ({"customer_windows_days": (7, 1)}, "customer_windows_days must be positive and strictly increasing"),
        ({"customer_windows_days": (1, 1)}, "customer_windows_days must be positive and strictly increasing"),
        ({"label_delay_days": -1}, "label_delay_days must be >= 0"),
        ({"night_last_hour": 24}, "night_last_hour must be within [0, 23]"),
        ({"allowed_lateness_days": -1}, "allowed_lateness_days must be >= 0"),
        ({"key_ttl_s": 1.5}, "key_ttl_s must be an int"),
        ({"key_ttl_s": 30 * 86_400}, "key_ttl_s must be >= the longest retention horizon (3801600 s)"),
    ],
)
def test_spec_validation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="invalid feature spec") as raised:
        FeatureSpec(**changes)
    assert message in str(raised.value)


def test_horizons() -> None:
    assert DEFAULT_SPEC.customer_horizon_ms == (30 + 7) * DAY_MS
    assert DEFAULT_SPEC.terminal_horizon_ms == (30 + 7 + 7) * DAY_MS


def test_digest_is_stable_and_tracks_meaning_only() -> None:
    assert DEFAULT_SPEC.digest == "81ac7df55efd4ee8"
    assert FeatureSpec().digest == DEFAULT_SPEC.digest
    assert replace(DEFAULT_SPEC, key_ttl_s=90 * 86_400, allowed_lateness_days=1).digest == DEFAULT_SPEC.digest
    others = {
        replace(DEFAULT_SPEC, label_delay_days=6).digest,
        replace(DEFAULT_SPEC, night_last_hour=5).digest,
        replace(DEFAULT_SPEC, customer_windows_days=(1, 7)).digest,
        replace(DEFAULT_SPEC, terminal_windows_days=(1, 7, 31)).digest,
        replace(DEFAULT_SPEC, tile_minutes=30).digest,
    }
    assert len(others) == 5
    assert DEFAULT_SPEC.digest not in others


def test_facts_of_events() -> None:
    tx = example_transaction()
    facts = TxFacts.of(tx)
    assert facts == TxFacts("tx-000001", "596", "3156", epoch_ms(tx.event_time), 5716)
    assert facts.event_time_ms == 1_522_540_831_000  # 2018-04-01T00:00:31Z
    assert TxFacts.of(tx.model_copy(update={"amount": 0.29})).amount_cents == 29  # 0.29 * 100 = 28.999…
    label = example_label()
    assert LabelFacts.of(label) == LabelFacts(
        "tx-000001", True, 1_522_540_831_000 + 6 * 3_600_000, "3156", facts.event_time_ms
    )
    bare = label.model_copy(update={"terminal_id": None, "transaction_time": None})
    assert LabelFacts.of(bare) == LabelFacts("tx-000001", True, 1_522_540_831_000 + 6 * 3_600_000)


def test_epoch_ms_is_exact() -> None:
    assert epoch_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert epoch_ms(datetime(2018, 4, 1, 0, 0, 0, 999_999, tzinfo=UTC)) == 1_522_540_800_999


def _ms(day: int, hour: int, minute: int) -> int:
    """Epoch ms of a moment in April 2018 (the 1st was a Sunday)."""
    return epoch_ms(datetime(2018, 4, day, hour, minute, tzinfo=UTC))


def test_feature_matrix_values() -> None:
    facts = [
        TxFacts("a", "c", "t", _ms(7, 6, 59), 12_345),  # Saturday, 06:59: weekend and night
        TxFacts("b", "c", "t", _ms(9, 7, 0), 0),  # Monday, 07:00: neither
        TxFacts("c", "c", "t", _ms(8, 23, 59), 1),  # Sunday, 23:59: weekend only
    ]
    counts = [
        WindowCounts((1, 2, 3), (12_345, 20_000, 30_001), (0, 4, 10), (0, 1, 4)),
        WindowCounts((0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)),
        WindowCounts((3, 3, 3), (100, 100, 100), (2, 2, 2), (2, 2, 2)),
    ]
    matrix = feature_matrix(facts, counts)
    assert matrix.shape == (3, 15)
    assert matrix.dtype == np.float64
    row = dict(zip(FEATURE_NAMES, matrix[0].tolist(), strict=True))
    assert row == {
        "amount": 123.45,
        "is_weekend": 1.0,
        "is_night": 1.0,
        "customer_nb_tx_1d": 1.0,
        "customer_avg_amount_1d": 123.45,
        "customer_nb_tx_7d": 2.0,
        "customer_avg_amount_7d": 100.0,
        "customer_nb_tx_30d": 3.0,
        "customer_avg_amount_30d": 30_001 / 3 / 100,
        "terminal_nb_tx_1d": 0.0,
        "terminal_risk_1d": 0.0,
        "terminal_nb_tx_7d": 4.0,
        "terminal_risk_7d": 0.25,
        "terminal_nb_tx_30d": 10.0,
        "terminal_risk_30d": 0.4,
    }
    assert matrix[1].tolist() == [0.0] * 15
    assert matrix[2, :3].tolist() == [0.01, 1.0, 0.0]
    assert matrix[2, 3:].tolist() == [3.0, 100 / 3 / 100] * 3 + [2.0, 1.0] * 3


def test_night_hour_follows_the_spec() -> None:
    facts = [TxFacts("a", "c", "t", _ms(2, 5, 0), 1), TxFacts("b", "c", "t", _ms(2, 0, 0), 1)]
    zero = WindowCounts((0,), (0,), (0,), (0,))
    spec = FeatureSpec(customer_windows_days=(1,), terminal_windows_days=(1,), night_last_hour=4)
    assert feature_matrix(facts, [zero, zero], spec)[:, 2].tolist() == [0.0, 1.0]


def test_feature_matrix_empty_and_mismatched() -> None:
    assert feature_matrix([], []).shape == (0, 15)
    facts = [TxFacts("a", "c", "t", 0, 1)]
    with pytest.raises(ValueError, match="1 transactions but 0 window counts"):
        feature_matrix(facts, [])
