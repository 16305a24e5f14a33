"""The producer's metrics: exact names and labels, mirrored from the sink's tallies, not per event."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import generate_latest

from fraudcore.settings import Settings
from fraudstream.cli import EXIT_INFRA, main
from producer.kafka_sink import KafkaEventSink
from producer.metrics import ProducerMetrics, Tallies, mirrored
from schemas.topics import Topics


def _value(metrics: ProducerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_names_types_and_labels_as_the_dashboard_expects() -> None:
    metrics = ProducerMetrics()
    metrics.rate_target.set(500)
    metrics.mirror({("transaction", "acknowledged"): 7}, rows_refused=2)
    lines = generate_latest(metrics.registry).decode().splitlines()
    for line in (
        "# TYPE fraudstream_producer_events_total counter",
        'fraudstream_producer_events_total{kind="transaction",outcome="acknowledged"} 7.0',
        'fraudstream_producer_events_total{kind="label",outcome="failed"} 0.0',
        'fraudstream_producer_events_total{kind="label",outcome="sent"} 0.0',
        "# TYPE fraudstream_producer_rows_refused_total counter",
        "fraudstream_producer_rows_refused_total 2.0",
        "# TYPE fraudstream_producer_rate_target gauge",
        "fraudstream_producer_rate_target 500.0",
    ):
        assert line in lines, line


def test_mirroring_adds_only_what_the_running_totals_gained() -> None:
    metrics = ProducerMetrics()
    metrics.mirror({("label", "sent"): 10}, rows_refused=1)
    metrics.mirror({("label", "sent"): 10}, rows_refused=1)
    metrics.mirror({("label", "sent"): 25}, rows_refused=4)
    assert _value(metrics, "fraudstream_producer_events_total", kind="label", outcome="sent") == 25
    assert _value(metrics, "fraudstream_producer_rows_refused_total") == 4


async def test_mirrored_copies_periodically_and_once_more_at_the_end() -> None:
    metrics = ProducerMetrics()
    tallies: dict[tuple[str, str], int] = {("transaction", "sent"): 0}

    def read() -> tuple[Tallies, int]:
        return tallies, 0

    async with mirrored(metrics, read, interval_s=0.01):
        tallies["transaction", "sent"] = 3
        await asyncio.sleep(0.05)
        assert _value(metrics, "fraudstream_producer_events_total", kind="transaction", outcome="sent") == 3
        tallies["transaction", "sent"] = 5
    assert _value(metrics, "fraudstream_producer_events_total", kind="transaction", outcome="sent") == 5


async def test_the_kafka_sink_tallies_acknowledgements_and_failures_by_kind() -> None:
    topics = Topics.with_prefix("t.")
    sink = KafkaEventSink(Settings(kafka_bootstrap="127.0.0.1:1"), topics)
    loop = asyncio.get_running_loop()
    outcomes: list[tuple[str, int, BaseException | None]] = [  # one delivery future per record batch
        (topics.transactions, 3, None),
        (topics.transactions, 2, TimeoutError("no broker")),
        (topics.labels, 1, None),
    ]
    for topic, count, error in outcomes:
        sink.sent[topic] += count
        done: asyncio.Future[object] = loop.create_future()
        if error is None:
            done.set_result(object())
        else:
            done.set_exception(error)
        sink._account(topic, count, done)
    assert sink.tallies() == {
        ("transaction", "sent"): 5,
        ("transaction", "acknowledged"): 3,
        ("transaction", "failed"): 2,
        ("label", "sent"): 1,
        ("label", "acknowledged"): 1,
        ("label", "failed"): 0,
    }
    assert sink.unacknowledged == 0
    assert sink.failures == [f"{topics.transactions}: TimeoutError('no broker')"] * 2
    await sink._producer.stop()  # never started: only releases it


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_produce_stops_before_kafka_when_its_metrics_port_is_taken(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUD_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    assert main(["produce", "--count", "10", "--quiet", "--metrics-port", str(taken_port)]) == EXIT_INFRA
    err = capsys.readouterr().err
    assert "the producer cannot serve metrics" in err
    assert "FRAUD_PRODUCER_METRICS_PORT=<port>" in err


class _RefusingAfterTwo(KafkaEventSink):
    """A sink whose producer takes two events of a hand-over, then refuses the rest."""

    async def _hand_over_by_partition(self, records: list[tuple[str, bytes, bytes]]) -> None:
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(object())
        self._handed(records[0][0], 2, done)
        raise KafkaConnectionError("no metadata for the topic")


async def test_events_the_producer_refuses_to_take_are_counted_as_failed_and_the_sink_goes_on() -> None:
    topics = Topics.with_prefix("t.")
    sink = _RefusingAfterTwo(Settings(kafka_bootstrap="127.0.0.1:1"), topics)
    for round_ in (1, 2):
        for _ in range(5):
            sink.sent[topics.transactions] += 1
            sink._buffer.append((topics.transactions, b"card", b"{}"))
        await sink._hand_over()  # does not raise: the lingering task that calls it keeps running
        await asyncio.sleep(0)  # the delivery callbacks
        assert sink.acknowledged[topics.transactions] == 2 * round_
        assert sink.failed[topics.transactions] == 3 * round_
        assert sink.unacknowledged == 0
    assert sink.failures[0].startswith(f"{topics.transactions}: not handed to the producer: KafkaConnectionError")
    await sink._producer.stop()  # never started: only releases it
