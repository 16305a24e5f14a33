"""The producer's Prometheus metrics against the real broker, scraped over HTTP."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from pathlib import Path

from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.metrics_server import serve_metrics
from fraudcore.settings import Settings
from producer.kafka_sink import KafkaEventSink
from producer.metrics import ProducerMetrics, mirrored
from producer.pacing import Pacer, Progress
from producer.pump import Limits, PumpResult, pump
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from tests.integration.conftest import free_port
from tests.integration.scorer_harness import http

PARAMS = SimulationParams(seed=3, n_customers=300, n_terminals=600, days=20)
TRANSACTIONS = 3000


def _samples(body: bytes) -> dict[str, float]:
    pairs = (line.rsplit(" ", 1) for line in body.decode().splitlines() if line and not line.startswith("#"))
    return {series: float(value) for series, value in pairs}


def _events(samples: dict[str, float], kind: str, outcome: str) -> float:
    return samples[f'fraudstream_producer_events_total{{kind="{kind}",outcome="{outcome}"}}']


def test_every_acknowledged_event_is_counted_by_kind(services: Settings, unique: str) -> None:
    settings = services.model_copy(update={"topic_prefix": f"m{unique}."})
    metrics = ProducerMetrics()
    port = free_port()
    with serve_metrics(metrics.registry, "127.0.0.1", port, service="the producer", setting="PORT") as server:
        result = asyncio.run(_produce(settings, metrics))
        status, body = http(server.url)
    assert status == 200
    samples = _samples(body)
    assert result.transactions == TRANSACTIONS
    assert _events(samples, "transaction", "sent") == _events(samples, "transaction", "acknowledged") == TRANSACTIONS
    assert _events(samples, "label", "sent") == _events(samples, "label", "acknowledged") == result.labels > 0
    assert _events(samples, "transaction", "failed") == _events(samples, "label", "failed") == 0
    assert samples["fraudstream_producer_rows_refused_total"] == 0


async def _produce(settings: Settings, metrics: ProducerMetrics) -> PumpResult:
    """What ``fraudstream produce`` does with a metrics port, in this process."""
    stream = SimulatedStream(PARAMS, LabelPolicy())
    topics = await ensure_project_topics(settings)
    sink, result = KafkaEventSink(settings, topics), PumpResult()
    async with mirrored(metrics, lambda: (sink.tallies(), result.rejected_rows)), sink:
        await pump(
            stream.events(TRANSACTIONS),
            sink,
            pacer=Pacer(None),
            progress=Progress(TRANSACTIONS, io.StringIO(), enabled=False),
            limits=Limits(max_transactions=TRANSACTIONS),
            stop=asyncio.Event(),
            leftover_labels=stream.pending_labels,
            result=result,
        )
    return result


def test_produce_serves_its_metrics_while_it_runs(services: Settings, unique: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_") and k != "MLFLOW_TRACKING_URI"} | {
        "FRAUD_DATA_DIR": str(tmp_path),
        "FRAUD_KAFKA_BOOTSTRAP": services.bootstrap_servers,
        "FRAUD_TOPIC_PREFIX": f"c{unique}.",
        "FRAUD_PRODUCER_METRICS_PORT": str(port),
    }
    command = [sys.executable, "-m", "fraudstream", "produce", "--seed", "3", "--customers", "300"]
    command += ["--terminals", "600", "--count", "4000", "--rate", "1000", "--quiet"]
    log_path = tmp_path / "produce.log"
    scrapes: list[dict[str, float]] = []
    with log_path.open("w") as log:
        producer = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        while producer.poll() is None:
            status, body = http(f"http://127.0.0.1:{port}/metrics", timeout_s=2)
            if status == 200:
                scrapes.append(_samples(body))
            time.sleep(0.2)
    output = log_path.read_text()
    assert producer.returncode == 0, output
    assert f"producer: metrics on http://127.0.0.1:{port}/metrics" in output
    assert scrapes, output
    assert {scrape["fraudstream_producer_rate_target"] for scrape in scrapes} == {1000.0}
    acknowledged = [_events(scrape, "transaction", "acknowledged") for scrape in scrapes]
    assert acknowledged == sorted(acknowledged)
    assert 0 < acknowledged[-1] <= 4000
