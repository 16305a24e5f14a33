"""The scorer's Prometheus metrics (base units, ``_total`` counters, no per-card labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fraudcore.features.redis_refusals import UNAVAILABILITY_KINDS
from fraudcore.metrics_registry import process_registry
from fraudcore.models.errors import ModelLoadFailure
from schemas.enums import ReasonCode

__all__ = ["ScorerMetrics"]

_BATCH_SIZES = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_SCORES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
_LATENCIES = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ScorerMetrics:
    """Every metric the scorer exports, registered in one registry (served on ``/metrics``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or process_registry()
        r = self.registry
        self.transactions = Counter(
            "fraudstream_scorer_transactions", "Transactions consumed, by outcome.", ["outcome"], registry=r
        )
        self.decisions = Counter(
            "fraudstream_scorer_decisions",
            "Verdicts emitted, by decision, risk level and the role of the deciding model (champion or canary).",
            ["decision", "risk_level", "role"],
            registry=r,
        )
        self.dead_letters = Counter(
            "fraudstream_scorer_dead_letters",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.unknown_fields = Counter(
            "fraudstream_scorer_unknown_fields", "Unknown fields tolerated in accepted messages.", registry=r
        )
        self.labels = Counter("fraudstream_scorer_labels", "Labels consumed, by outcome.", ["outcome"], registry=r)
        self.label_corrections = Counter(
            "fraudstream_scorer_label_corrections",
            "Labels that replaced an earlier label of their transaction (a later labeled_at, or fraud over genuine).",
            registry=r,
        )
        self.fraud_labels = Counter(
            "fraudstream_scorer_fraud_labels", "Valid labels consumed that say fraud (duplicates included).", registry=r
        )
        self.batch_size = Histogram(
            "fraudstream_scorer_batch_size", "Transactions per scored micro-batch.", buckets=_BATCH_SIZES, registry=r
        )
        self.batch_seconds = Histogram(
            "fraudstream_scorer_batch_seconds",
            "Time to score one micro-batch and have its verdicts acknowledged.",
            buckets=_LATENCIES,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "fraudstream_scorer_stage_seconds",
            "Time per chunk of a micro-batch in each scoring stage.",
            ["stage"],
            buckets=_LATENCIES,
            registry=r,
        )
        self.end_to_end_seconds = Histogram(
            "fraudstream_scorer_end_to_end_seconds",
            "From the transaction's Kafka timestamp to its verdict being acknowledged.",
            buckets=_LATENCIES,
            registry=r,
        )
        self.model_info = Gauge(
            "fraudstream_scorer_model_info",
            "The model version in use (value 1).",
            ["model", "version", "alias"],
            registry=r,
        )
        self.model_refreshes = Counter(
            "fraudstream_scorer_model_refreshes",
            "Model refreshes (reload events, periodic checks, admin requests), by result.",
            ["alias", "result"],
            registry=r,
        )
        self.model_load_failures = Counter(
            "fraudstream_scorer_model_load_failures",
            "Model versions refused (each once), by reason.",
            ["reason"],
            registry=r,
        )
        self.redis_errors = Counter(
            "fraudstream_scorer_redis_errors",
            "Feature store calls that failed (and were retried), by kind (unreachable, timeout, out_of_memory...).",
            ["kind"],
            registry=r,
        )
        self.feature_store_unavailable = Gauge(
            "fraudstream_scorer_feature_store_unavailable",
            "1 while the feature store's calls fail with this kind of error (consumption paused), else 0.",
            ["kind"],
            registry=r,
        )
        self.feature_store_unavailable_by_kind = {
            kind: self.feature_store_unavailable.labels(kind) for kind in UNAVAILABILITY_KINDS
        }
        self.redis_eviction_policy = Gauge(
            "fraudstream_scorer_redis_eviction_policy",
            "Redis's maxmemory-policy as read at start (value 1); evicts=yes: it can silently delete feature "
            "keys when full, unknown: CONFIG GET was refused.",
            ["policy", "evicts"],
            registry=r,
        )
        self.send_failures = Counter(
            "fraudstream_scorer_send_failures",
            "Send attempts (verdicts, dead letters, model events) that failed or were found stuck, by error "
            "class; every record is resent until acknowledged.",
            ["error"],
            registry=r,
        )
        self.stalled_seconds = Gauge(
            "fraudstream_scorer_stalled_seconds",
            "How long input pending on this worker has waited without a batch completing (0 when none waits).",
            registry=r,
        )
        self.feature_psi = Gauge(
            "fraudstream_scorer_feature_psi",
            "Population stability index of each feature over the recent window against the model's reference.",
            ["feature"],
            registry=r,
        )
        self.drift_detections = Counter(
            "fraudstream_scorer_drift_detections",
            "Changes flagged by the ADWIN detectors, by signal (score, fraud_rate).",
            ["signal"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "fraudstream_scorer_consumer_lag",
            "Transactions not yet scored per partition held by this worker (high watermark - next offset).",
            ["topic", "partition"],
            registry=r,
        )
        self.scores = Histogram(
            "fraudstream_scorer_score",
            "Scores of the verdicts emitted (fraud probability of the deciding model).",
            buckets=_SCORES,
            registry=r,
        )
        self.ready = Gauge(
            "fraudstream_scorer_ready", "1 when the scorer serves a model and reaches Redis.", registry=r
        )
        self.http_requests = Counter(
            "fraudstream_scorer_http_requests",
            "HTTP requests answered, by route (the path template; unmatched: no such route), method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_request_seconds = Histogram(
            "fraudstream_scorer_http_request_seconds",
            "Time from receiving an HTTP request to its answer being ready, by route and method.",
            ["route", "method"],
            buckets=_LATENCIES,
            registry=r,
        )
        self._initialise_label_sets()

    def _initialise_label_sets(self) -> None:
        """Export the known label sets at 0 from the start, so dashboards and alerts see a series
        (and ``rate``/``increase`` see the first increment) before the first event of each kind."""
        for outcome in ("scored", "dead_lettered"):
            self.transactions.labels(outcome)
        for outcome in ("recorded", "corrected", "duplicate", "held", "dead_lettered"):
            self.labels.labels(outcome)
        for reason in ReasonCode:
            self.dead_letters.labels(reason.value)
        for failure in ModelLoadFailure:
            self.model_load_failures.labels(failure.value)
        for signal in ("score", "fraud_rate"):
            self.drift_detections.labels(signal)
        for kind in UNAVAILABILITY_KINDS:
            self.redis_errors.labels(kind)
