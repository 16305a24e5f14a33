"""What the demo shows: verdicts read back from the verdicts topic, joined with what was sent.

The monitor follows the verdicts and model-events topics without a consumer group. It knows each
live transaction's send time and truth (the simulator's fraud scenario), so it reports the
throughput, the end-to-end latency (sent → verdict written), the decisions, the fraud caught and
the model versions that decided.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from fraudcore.kafka_reading import groupless_consumer, topic_partitions
from fraudcore.settings import Settings
from schemas.topics import Topics

__all__ = ["VerdictMonitor"]

_ALERTS = frozenset({"review", "decline"})


@dataclass
class _Live:
    sent_at: dict[str, float] = field(default_factory=dict)
    fraud: dict[str, bool] = field(default_factory=dict)


class VerdictMonitor:
    """Counts verdicts as they arrive; ``track`` registers each live transaction when it is sent."""

    def __init__(self, settings: Settings, topics: Topics) -> None:
        self.settings = settings
        self.topics = topics
        self.verdicts: set[str] = set()
        self.duplicates = 0
        self.versions: Counter[str] = Counter()
        self.live_versions: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.latencies_ms: list[float] = []
        self.caught = self.missed = self.false_alerts = 0
        self.model_events: list[dict[str, object]] = []
        self._live = _Live()
        self._window: list[float] = []
        self._shown_events = 0

    def track(self, transaction_id: str, is_fraud: bool) -> None:
        """Remember a live transaction just handed to the producer."""
        self._live.sent_at[transaction_id] = time.time()
        self._live.fraud[transaction_id] = is_fraud

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the verdicts and model-events topics until ``stop``."""
        consumer = groupless_consumer(self.settings)
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, [self.topics.verdicts, self.topics.model_events])
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while not stop.is_set():
                for tp, records in (await consumer.getmany(timeout_ms=200, max_records=10_000)).items():
                    for record in records:
                        if tp.topic == self.topics.verdicts:
                            self._verdict(record.value, record.timestamp / 1000)
                        else:
                            self.model_events.append(json.loads(record.value))
        finally:
            await consumer.stop()

    def _verdict(self, value: bytes, written_at: float) -> None:
        verdict = json.loads(value)
        transaction_id = verdict["transaction_id"]
        if transaction_id in self.verdicts:
            self.duplicates += 1
            return
        self.verdicts.add(transaction_id)
        self.versions[verdict["model_version"]] += 1
        self._window.append(time.monotonic())
        sent_at = self._live.sent_at.get(transaction_id)
        if sent_at is None:
            return
        self.live_versions[verdict["model_version"]] += 1
        self.decisions[verdict["decision"]] += 1
        self.latencies_ms.append(max(written_at - sent_at, 0.0) * 1000)
        alerted, fraud = verdict["decision"] in _ALERTS, self._live.fraud[transaction_id]
        self.caught += alerted and fraud
        self.missed += fraud and not alerted
        self.false_alerts += alerted and not fraud

    def unseen_model_events(self) -> list[str]:
        """Model events that arrived since the last call, one line each."""
        fresh = self.model_events[self._shown_events :]
        self._shown_events = len(self.model_events)
        return [
            f"model event: {e.get('kind')} version {e.get('model_version')}: {e.get('message', '')}"[:240]
            for e in fresh
        ]

    def rate(self, window_s: float = 5.0) -> float:
        """Verdicts per second over the last ``window_s`` seconds."""
        horizon = time.monotonic() - window_s
        self._window = [moment for moment in self._window if moment >= horizon]
        return len(self._window) / window_s

    def latency(self, quantile: float) -> float:
        """End-to-end latency quantile of the live transactions so far (ms); nan before any."""
        return float(np.quantile(self.latencies_ms, quantile)) if self.latencies_ms else float("nan")

    def status(self, sent: int) -> str:
        """One status line."""
        versions = ", ".join(f"v{version}: {count:,}" for version, count in sorted(self.live_versions.items()))
        return (
            f"sent {sent:,} | verdicts {sum(self.live_versions.values()):,} "
            f"({self.rate():,.0f}/s) | latency p50 {self.latency(0.5):.0f} ms p99 {self.latency(0.99):.0f} ms | "
            f"alerts {self.decisions['review'] + self.decisions['decline']:,} | fraud caught {self.caught:,}, "
            f"missed {self.missed:,} | models {versions or '-'}"
        )

    def summary(self, sent: int) -> list[str]:
        """The closing report."""
        live = sum(self.live_versions.values())
        alerts = self.caught + self.false_alerts
        frauds = self.caught + self.missed
        precision = self.caught / alerts if alerts else float("nan")
        recall = self.caught / frauds if frauds else float("nan")
        promotions = [e for e in self.model_events if e.get("kind") in ("promoted", "rolled_back")]
        return [
            f"live transactions sent: {sent:,}; verdicts: {live:,} ({sent - live:,} still in flight), "
            f"duplicates seen: {self.duplicates:,}",
            f"end-to-end latency: p50 {self.latency(0.5):.0f} ms, p99 {self.latency(0.99):.0f} ms, "
            f"max {max(self.latencies_ms, default=float('nan')):.0f} ms",
            "decisions: " + ", ".join(f"{name} {count:,}" for name, count in sorted(self.decisions.items())),
            f"against the simulator's truth: {frauds:,} frauds, caught {self.caught:,} (recall {recall:.2f}), "
            f"{alerts:,} alerts (precision {precision:.2f})",
            "verdicts by model version: "
            + ", ".join(f"v{version} {count:,}" for version, count in sorted(self.live_versions.items())),
            f"model events: {len(promotions)} promotion(s)"
            + "".join(f"; v{e.get('model_version')} {e.get('kind')}" for e in promotions),
        ]
