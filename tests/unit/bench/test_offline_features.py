"""The offline-features benchmark's synthetic history looks like the simulator's and its table prints."""

from __future__ import annotations

import numpy as np
import pytest

from bench.offline_features import main, synthetic_columns
from fraudcore.features.offline import NO_FRAUD


def test_synthetic_columns_are_in_time_order_with_rare_frauds_labelled_later() -> None:
    columns = synthetic_columns(200_000, customers=1_000, terminals=500)
    assert np.all(np.diff(columns.times) >= 0)
    assert 950 < len(np.unique(columns.customers)) <= 1_000  # a few pay (almost) never
    assert columns.terminals.max() < 500
    assert columns.cents.min() >= 0
    fraud = columns.fraud != NO_FRAUD
    assert 0.006 < fraud.mean() < 0.01
    assert np.all(columns.fraud[fraud] >= columns.times[fraud])


def test_the_table_has_a_row_per_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rows", "3000", "--customers", "40", "60", "--objects-rows", "0"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 3,000 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["40", "60"]
