"""The paced phase: transactions sent at a fixed rate to a running scorer, a promotion at its middle.

Latency is measured from each transaction's record timestamp (set when it is sent) to its verdict's
(the broker's append time: the verdict acknowledged), both read back from Kafka after the phase. The
hot-swap stall is the largest silence of the verdict stream from the promotion until one second after
the first verdict of the new version, against the largest silence elsewhere in the phase. The raw
passthrough gets the same kind of phase, at the same rate, as the reference: the latency of the Kafka
hops alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.errors import BenchError
from bench.kafka_io import end_offsets, read_records, wait_for_count
from bench.lanes import Lane
from bench.processes import Child
from bench.stats import largest_gaps, percentiles
from bench.workload import Record
from fraudcore.kafka_security import client_options
from fraudcore.settings import Settings

__all__ = ["HotSwap", "Latency", "LivePhase", "passthrough_latency", "run_live"]

_AFTER_SWAP_MS = 1_000


@dataclass(frozen=True)
class Latency:
    """Transaction sent → verdict acknowledged, at a paced rate."""

    target_rate: float
    achieved_rate: float
    transactions: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


@dataclass(frozen=True)
class HotSwap:
    """A promotion under load: how long until the new version decided, and the verdict stall."""

    from_version: str
    to_version: str
    swap_seconds: float
    """From the promotion to the first verdict of the new version (the old one scores meanwhile)."""
    stall_ms: int
    """Largest gap between verdicts from the promotion to one second after the swap."""
    largest_gap_elsewhere_ms: int
    """Largest gap between verdicts in the rest of the phase."""


@dataclass(frozen=True)
class LivePhase:
    """What the paced phase measured, and when it ran (``time.monotonic()``)."""

    latency: Latency
    swap: HotSwap
    began: float
    ended: float


@dataclass
class _Sent:
    at_ms: dict[str, int]
    promoted_at_ms: int | None = None
    began: float = 0.0
    ended: float = 0.0


@dataclass
class _Verdict:
    at_ms: int
    version: str


def run_live(
    lane: Lane,
    records: Sequence[Record],
    rate: float,
    seconds: float,
    scorer: Child,
    promote: Callable[[], None],
    new_version: str,
    say: Callable[[str], None],
) -> LivePhase:
    """Send ``records`` at ``rate`` for ``seconds`` to the lane's running ``scorer``, call ``promote``
    at the middle, wait for every verdict, and measure."""
    verdicts: dict[str, _Verdict] = {}

    def visit(record: Any) -> None:
        key = record.key.decode()
        if key not in verdicts:  # at-least-once: the first verdict counts
            verdicts[key] = _Verdict(record.timestamp, str(json.loads(record.value)["model_version"]))

    sent = _paced_phase(lane, records, rate, seconds, scorer, promote, visit, say)
    ours = {key: verdict for key, verdict in verdicts.items() if key in sent.at_ms}
    latency = _latency(sent, {key: verdict.at_ms for key, verdict in ours.items()}, rate)
    return LivePhase(latency, _swap(sent, ours, new_version), sent.began, sent.ended)


def passthrough_latency(
    lane: Lane, records: Sequence[Record], rate: float, seconds: float, passthrough: Child, say: Callable[[str], None]
) -> Latency:
    """Send ``records`` at ``rate`` for ``seconds`` to the lane's running raw passthrough (its outputs
    are the transactions re-encoded) and measure their latency as :func:`run_live` does."""
    outputs: dict[str, int] = {}

    def visit(record: Any) -> None:
        outputs.setdefault(str(json.loads(record.value)["transaction_id"]), record.timestamp)

    sent = _paced_phase(lane, records, rate, seconds, passthrough, None, visit, say)
    return _latency(sent, outputs, rate)


def _paced_phase(
    lane: Lane,
    records: Sequence[Record],
    rate: float,
    seconds: float,
    child: Child,
    promote: Callable[[], None] | None,
    visit: Callable[[Any], None],
    say: Callable[[str], None],
) -> _Sent:
    """Send paced, wait until ``child`` wrote one output per transaction sent, and hand the outputs of
    the phase to ``visit``."""
    settings, topics = lane.settings, lane.topics
    since = asyncio.run(end_offsets(settings, topics.verdicts))
    sent = asyncio.run(_paced(settings, topics.transactions, records, rate, seconds, promote))
    say(f"      sent {len(sent.at_ms):,} transactions in {sent.ended - sent.began:.0f} s; waiting for their outputs")
    try:
        asyncio.run(
            wait_for_count(
                settings,
                topics.verdicts,
                sum(since.values()) + len(sent.at_ms),
                alive=child.alive,
                timeout_s=120,
            )
        )
    except RuntimeError as error:
        raise BenchError(f"{lane.name} (paced): {error}\n--- end of its log ---\n{child.log_tail()}") from error
    asyncio.run(read_records(settings, topics.verdicts, visit, since))
    return sent


async def _paced(
    settings: Settings,
    topic: str,
    records: Sequence[Record],
    rate: float,
    seconds: float,
    promote: Callable[[], None] | None,
) -> _Sent:
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True, linger_ms=1)
    await producer.start()
    sent = _Sent({})
    loop = asyncio.get_running_loop()
    try:
        sent.began = loop.time()
        for index, record in enumerate(records):
            due = index / rate
            if due >= seconds:
                break
            wait = sent.began + due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if promote is not None and sent.promoted_at_ms is None and due >= seconds / 2:
                promote()
                sent.promoted_at_ms = int(time.time() * 1000)
            now_ms = int(time.time() * 1000)
            await producer.send(topic, record.value, key=record.key, timestamp_ms=now_ms)
            sent.at_ms[record.transaction_id] = now_ms
        sent.ended = loop.time()
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def _latency(sent: _Sent, output_ms: dict[str, int], rate: float) -> Latency:
    """The latency of every transaction sent, from its first output's append time (``output_ms`` may
    hold outputs of other transactions too)."""
    missing = sum(1 for key in sent.at_ms if key not in output_ms)
    if missing:
        raise BenchError(f"{missing:,} of {len(sent.at_ms):,} paced transactions got no output")
    delays = [output_ms[key] - at_ms for key, at_ms in sent.at_ms.items()]
    p50, p99, p999, top = percentiles(delays, [0.5, 0.99, 0.999, 1.0])
    achieved = len(sent.at_ms) / max(sent.ended - sent.began, 1e-9)
    return Latency(rate, achieved, len(delays), p50, p99, p999, top)


def _swap(sent: _Sent, verdicts: dict[str, _Verdict], new_version: str) -> HotSwap:
    promoted = sent.promoted_at_ms
    if promoted is None:
        raise BenchError("the paced phase ended before the promotion")
    by_new = [verdict.at_ms for verdict in verdicts.values() if verdict.version == new_version]
    if not by_new:
        raise BenchError(f"no verdict of version {new_version} after the promotion: the scorer did not swap")
    swapped = min(by_new)
    before = Counter(verdict.version for verdict in verdicts.values() if verdict.at_ms < promoted)
    old = before.most_common(1)[0][0] if before else "?"
    gaps = largest_gaps([verdict.at_ms for verdict in verdicts.values()], promoted, swapped + _AFTER_SWAP_MS)
    return HotSwap(old, new_version, (swapped - promoted) / 1000, gaps.inside_ms, gaps.outside_ms)
