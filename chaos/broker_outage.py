"""Scenario: the Kafka broker stops for a while under a steady load, then starts again on its data.

The lane gets a broker of its own (a single-node KRaft broker from the cached jars, on free ports, in
a scratch folder) so the restart touches nothing else: the lane's topics, the scorer worker, the paced
sender and the verdict reader all use it; Redis and MLflow stay the shared ones. At the middle of the
sending it is stopped, with SIGTERM (a clean shutdown) or SIGKILL, for ``outage_s`` seconds, then
started again on the same log folder. The worker must wait for it and resume, the sender must make
again every send that failed; recovery is from the broker back (ready again) to the next verdict.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from bench.processes import free_port
from chaos.harness import Live, Load, ScenarioResult, chaos_lane, run_under_load
from fraudcore.local.kafka import KafkaBroker
from fraudcore.settings import KafkaSecurityProtocol, Settings

__all__ = ["BrokerStop", "private_broker", "run_broker_outage"]


class BrokerStop(StrEnum):
    """How the broker is stopped."""

    TERM = "term"
    """SIGTERM: a clean shutdown (every log flushed and closed)."""
    KILL = "kill"
    """SIGKILL: the broker recovers its logs at the next start."""


def run_broker_outage(
    base: Settings, load: Load, outage_s: float, how: BrokerStop, say: Callable[[str], None]
) -> ScenarioResult:
    """Run the scenario with the Redis and MLflow ``base`` names, on a broker of its own; removes what it
    created."""
    outage: list[int] = []
    """When the broker was stopped and when it was ready again (epoch ms)."""
    sent: list[int] = []
    seen: list[Live] = []

    def inject(live: Live) -> None:
        seen.append(live)
        live.workers.wait_scoring()
        left_s = load.seconds - (time.time() * 1000 - live.sender.began_ms) / 1000  # the worker's start-up took some
        time.sleep(max(left_s, 0.0) / 2)
        if not live.sender.is_alive():
            say("every transaction was sent before the worker scored: --transactions too few to stop the broker")
            return
        outage.append(_stop(broker, how))
        sent.append(live.sender.sent)
        say(f"broker stopped ({how}) at {live.sender.sent:,} sent; back in {outage_s:g} s")
        time.sleep(outage_s)
        broker.start()
        outage.append(int(time.time() * 1000))
        sent.append(live.sender.sent)
        say(f"broker back at {live.sender.sent:,} sent")

    with (
        _connection_errors_unlogged(),
        private_broker(base) as (settings, broker),
        chaos_lane(settings, "broker", load) as (lane, scratch),
    ):
        outcome = run_under_load(lane, scratch, load, say, inject)
    (live,) = seen
    figures = {
        "broker away (stop → ready again)": (
            f"{(outage[1] - outage[0]) / 1000:.1f} s (at {sent[0]:,} sent, ready at {sent[1]:,})" if outage else "none"
        ),
        "sends the load sender made again": f"{live.sender.resent:,}",
        "load sender's producers replaced (broker refused their state)": f"{live.sender.renewed:,}",
    }
    return outcome.result(f"Kafka broker stopped ({how}) for {outage_s:g} s", load, 1, outage[1:], figures)


@contextmanager
def private_broker(base: Settings) -> Iterator[tuple[Settings, KafkaBroker]]:
    """A broker of its own, started (free ports, a scratch folder kept when the run fails), and ``base``
    pointing at it in plaintext; stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="fraudstream-chaos-broker-"))
    ports = {"kafka_port": free_port(), "kafka_controller_port": free_port()}
    settings = base.derived(
        **ports,
        kafka_bootstrap=None,
        kafka_security_protocol=KafkaSecurityProtocol.PLAINTEXT,
        kafka_sasl_username=None,
        kafka_sasl_password=None,
        kafka_ssl_cafile=None,
        kafka_ssl_certfile=None,
        kafka_ssl_keyfile=None,
        kafka_ssl_key_password=None,
    )
    broker = KafkaBroker(settings.derived(data_dir=folder))
    broker.start()
    try:
        yield settings, broker
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        broker.stop()


def _stop(broker: KafkaBroker, how: BrokerStop) -> int:
    """Stop the broker the way asked and wait until it is gone; returns when the stop began (epoch ms)."""
    at_ms = int(time.time() * 1000)
    pid = broker.process.pid()
    if how is BrokerStop.KILL and pid is not None:
        os.kill(pid, signal.SIGKILL)
    broker.stop()
    return at_ms


@contextmanager
def _connection_errors_unlogged() -> Iterator[None]:
    """Without aiokafka's log of this process (hundreds of failed connections while the broker is away,
    expected here); the scenario reports what failed."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
