"""The fast feature digester the scorer uses gives exactly the contract's digest."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.events import FeatureDigester, digest_features


def test_the_fast_feature_digester_equals_the_definition() -> None:
    names = sorted(["amount", "b_feature", "z", "é-accent", 'quote"d'])
    digester = FeatureDigester(names)
    rows = [*np.random.default_rng(0).normal(0, 1e6, size=(200, len(names))).tolist(), [0.0, -0.0, 1e-7, 1e300, 5e-324]]
    for row in rows:
        assert digester(row) == digest_features(dict(zip(names, row, strict=True)))


def test_the_fast_feature_digester_wants_sorted_names() -> None:
    with pytest.raises(ValueError, match="sorted"):
        FeatureDigester(["b", "a"])
