"""Consumer lag per partition: end offset minus the next offset scored; partitions given away are dropped."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from scorer.lag import ConsumerLag
from scorer.scoring import RawMessage


def _message(partition: int, offset: int) -> RawMessage:
    return RawMessage(key=b"k", value=b"{}", topic="tx", partition=partition, offset=offset, timestamp_ms=None)


def _lags(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["topic"], sample.labels["partition"]): sample.value
        for metric in registry.collect()
        for sample in metric.samples
    }


def test_lag_is_the_end_offset_minus_the_next_offset_scored() -> None:
    registry = CollectorRegistry()
    lag = ConsumerLag(Gauge("lag", "lag", ["topic", "partition"], registry=registry))
    lag.scored([_message(0, 4), _message(0, 9), _message(1, 2), _message(0, 7)])
    total = lag.report([("tx", 0), ("tx", 1), ("tx", 2)], {("tx", 0): 25, ("tx", 1): 3, ("tx", 2): 40})
    assert total == 15
    assert _lags(registry) == {("tx", "0"): 15.0, ("tx", "1"): 0.0}  # partition 2: nothing scored yet

    lag.report([("tx", 1)], {("tx", 1): 8})  # partition 0 went to another worker
    assert _lags(registry) == {("tx", "1"): 5.0}
    lag.report([("tx", 0), ("tx", 1)], {("tx", 0): 30, ("tx", 1): 8})
    assert _lags(registry) == {("tx", "1"): 5.0}  # its old position is forgotten
