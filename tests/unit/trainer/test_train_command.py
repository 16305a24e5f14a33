"""``fraudstream train``'s metrics server: served over HTTP, a taken port named with its variable."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from fraudcore.local.errors import InfraError
from fraudcore.metrics_server import MetricsPortInUse, serve_metrics
from fraudstream.cli import EXIT_INFRA, EXIT_USAGE, main


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another socket listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_registry_is_served_on_metrics_and_the_port_is_released_on_close() -> None:
    registry = CollectorRegistry()
    Counter("fraudstream_test_things", "Things.", registry=registry).inc(3)
    port = _free_port()
    with serve_metrics(registry, "127.0.0.1", port, service="the test", setting="FRAUD_X_PORT") as server:
        assert server.url == f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(server.url, timeout=5) as answer:
            assert "fraudstream_test_things_total 3.0" in answer.read().decode()
    serve_metrics(registry, "127.0.0.1", port, service="the test", setting="FRAUD_X_PORT").close()  # free again


def test_a_taken_port_or_a_bad_host_is_an_infrastructure_error_naming_the_variable(taken_port: int) -> None:
    with pytest.raises(MetricsPortInUse, match=f"127.0.0.1:{taken_port}.*FRAUD_X_PORT=<port>"):
        serve_metrics(CollectorRegistry(), "127.0.0.1", taken_port, service="the test", setting="FRAUD_X_PORT")
    with pytest.raises(InfraError, match="FRAUD_METRICS_HOST"):
        serve_metrics(CollectorRegistry(), "no-such-host.invalid", _free_port(), service="t", setting="FRAUD_X_PORT")


def test_train_stops_before_kafka_when_its_metrics_port_is_taken(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUD_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing to reach: the port check comes first
    monkeypatch.setenv("FRAUD_TRAINER_METRICS_PORT", str(taken_port))
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    assert main(["train"]) == EXIT_INFRA
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"  # the champion is never unpickled
    err = capsys.readouterr().err
    assert "the trainer cannot serve metrics" in err
    assert "FRAUD_TRAINER_METRICS_PORT=<port>" in err


@pytest.mark.parametrize(
    "arguments", [["--drift-cooldown", "-1"], ["--metrics-port", "0"], ["--metrics-port", "70000"]]
)
def test_bad_drift_and_metrics_options_are_usage_errors(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *arguments]) == EXIT_USAGE
    assert "FRAUD_TRAINER_" in capsys.readouterr().err


def test_help_names_the_metrics_and_drift_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for word in (
        "FRAUD_TRAINER_METRICS_PORT",
        "FRAUD_TRAINER_RETRAIN_ON_DRIFT",
        "FRAUD_TRAINER_DRIFT_COOLDOWN_S",
        "FRAUD_TRAINER_CACHE_DIR",
    ):
        assert word in " ".join(text.split()), word
