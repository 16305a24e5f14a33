"""The trainer's Prometheus metrics (base units, ``_total`` counters, no per-card labels).

Retrain triggers: ``catch_up`` (the first retrain after reading the topics), ``labels`` and
``days`` (the schedule), ``drift`` (a scorer's drift alarm), ``once`` (``fraudstream train
--once``). Results: ``promoted``, ``kept`` (registered as challenger), ``failed`` (an error, e.g.
MLflow unreachable), ``skipped`` (the history does not cover the prequential windows yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fraudcore.metrics_registry import process_registry

__all__ = [
    "CACHE_OUTCOMES",
    "DRIFT_SIGNALS",
    "DROPPED",
    "RESULTS",
    "ROLES",
    "TRIGGERS",
    "Result",
    "TrainerMetrics",
    "Trigger",
]

Trigger = Literal["catch_up", "labels", "days", "drift", "once"]
Result = Literal["promoted", "kept", "failed", "skipped"]
TRIGGERS: Final[tuple[Trigger, ...]] = ("catch_up", "labels", "days", "drift", "once")
RESULTS: Final[tuple[Result, ...]] = ("promoted", "kept", "failed", "skipped")
ROLES: Final = ("challenger", "champion", "baseline")
DRIFT_SIGNALS: Final = ("score", "features", "fraud_rate")
CACHE_OUTCOMES: Final = (
    ("load", "loaded"),
    ("load", "absent"),
    ("load", "refused"),
    ("save", "saved"),
    ("save", "failed"),
)
"""What happened to the on-disk history cache (:mod:`trainer.history_cache`): loaded at start, absent
(none written yet), refused (it did not match or failed a check: the reason is logged); saved, or not
(the error is logged)."""
DROPPED: Final = (("transaction", "stale"), ("transaction", "ahead"), ("label", "refused"), ("label", "pruned"))
"""Why the history drops a valid event (see :mod:`trainer.history`): a transaction too old behind the
stream clock, or far ahead of it at pruning; a label beyond the bound of held or waiting labels, or
pruned (before the horizon, or far ahead of the clock)."""

_RETRAIN_SECONDS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


class TrainerMetrics:
    """Every metric the trainer exports, registered in one registry (served on ``/metrics``).

    The label sets a dashboard sums over exist from the start (at 0), so ``increase()`` sees the
    first retrain.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or process_registry()
        r = self.registry
        self.events = Counter(
            "fraudstream_trainer_events",
            "Transactions and labels read from the topics, by kind and outcome (accepted or invalid).",
            ["kind", "outcome"],
            registry=r,
        )
        self.label_corrections = Counter(
            "fraudstream_trainer_label_corrections",
            "Labels that replaced an earlier label of their transaction in the history (the latest labeled_at wins).",
            registry=r,
        )
        self.dropped = Counter(
            "fraudstream_trainer_dropped_events",
            "Valid transactions and labels the history dropped, by kind and reason (transaction: stale, ahead; "
            "label: refused, pruned).",
            ["kind", "reason"],
            registry=r,
        )
        self.labels_waiting = Gauge(
            "fraudstream_trainer_labels_waiting",
            "Labels dated more than a day ahead of the stream clock, waiting for it before they count.",
            registry=r,
        )
        self.history_transactions = Gauge(
            "fraudstream_trainer_history_transactions", "Transactions held in the sliding window.", registry=r
        )
        self.retrains = Counter(
            "fraudstream_trainer_retrains",
            "Retrains, by what triggered them and their result.",
            ["trigger", "result"],
            registry=r,
        )
        self.retrain_seconds = Histogram(
            "fraudstream_trainer_retrain_seconds",
            "Wall time of each retrain (features, fits, evaluation, registration), whatever its result.",
            buckets=_RETRAIN_SECONDS,
            registry=r,
        )
        self.model_metric = Gauge(
            "fraudstream_trainer_model_metric",
            "Headline metrics of the last retrain on its most recent test window (fold 0), by scorer role.",
            ["role", "metric"],
            registry=r,
        )
        self.last_retrain = Gauge(
            "fraudstream_trainer_last_retrain_timestamp_seconds",
            "Unix time of the last retrain that registered a version (promoted or kept).",
            registry=r,
        )
        self.champion_info = Gauge(
            "fraudstream_trainer_champion_info",
            "The champion after the last retrain (value 1).",
            ["model", "version"],
            registry=r,
        )
        self.drift_alarms = Counter(
            "fraudstream_trainer_drift_alarms",
            "Drift alarms of the scorers read from model-events, by signal (score, features, fraud_rate, other).",
            ["signal"],
            registry=r,
        )
        self.history_cache = Counter(
            "fraudstream_trainer_history_cache",
            "Loads and saves of the on-disk history cache, by operation (load, save) and result (load: loaded, "
            "absent, refused; save: saved, failed).",
            ["operation", "result"],
            registry=r,
        )
        for operation, result in CACHE_OUTCOMES:
            self.history_cache.labels(operation, result)
        for kind in ("transaction", "label"):
            for outcome in ("accepted", "invalid"):
                self.events.labels(kind, outcome)
        for kind, reason in DROPPED:
            self.dropped.labels(kind, reason)
        for trigger in TRIGGERS:
            for result in RESULTS:
                self.retrains.labels(trigger, result)
        for signal in DRIFT_SIGNALS:
            self.drift_alarms.labels(signal)

    def record_models(self, headlines: Mapping[str, Mapping[str, float] | None]) -> None:
        """Set each role's headline metrics (``auc_roc``, ``average_precision``,
        ``card_precision_at_100``); a role given ``None`` (no champion yet) loses its series."""
        for role, metrics in headlines.items():
            if metrics is None:
                self.model_metric.remove_by_labels({"role": role})
                continue
            for name, value in metrics.items():
                self.model_metric.labels(role, name).set(value)

    def record_champion(self, model: str, version: str | None) -> None:
        """Name the champion (the previous label set goes); ``None``: there is none."""
        self.champion_info.clear()
        if version is not None:
            self.champion_info.labels(model, version).set(1)
