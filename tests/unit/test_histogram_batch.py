"""observe_many leaves a histogram exactly as one observe per value would."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from fraudcore.histogram_batch import observe_many


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


@pytest.mark.unit
@pytest.mark.parametrize("labelled", [False, True])
def test_batch_equals_one_observation_per_value(labelled: bool) -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.random(500) * 3, [0.0, 0.005, 0.01, 0.25, 1.0, 10.0, 1e9]])  # on the bounds too
    one, batched = CollectorRegistry(), CollectorRegistry()
    labels = ["stage"] if labelled else []
    singles = Histogram("h", "help", labels, registry=one, buckets=(0.005, 0.01, 0.25, 1.0, 10.0))
    bulk = Histogram("h", "help", labels, registry=batched, buckets=(0.005, 0.01, 0.25, 1.0, 10.0))
    target_single = singles.labels("model") if labelled else singles
    target_bulk = bulk.labels("model") if labelled else bulk
    for value in values.tolist():
        target_single.observe(value)
    observe_many(target_bulk, values[:100])
    observe_many(target_bulk, values[100:])
    observe_many(target_bulk, [])
    got, expected = samples(batched), samples(one)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name
