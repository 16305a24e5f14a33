"""One backtest from start to end: load the models, read the topics, replay the features, score,
evaluate, write the verdicts (optionally), the JSON file and the HTML report.

Failures the user can fix raise :class:`BacktestError` with an exit code (2: bad arguments or
configuration, 1: the data or a model does not allow the backtest); an unreachable service raises
:class:`~fraudcore.local.errors.InfraError`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from backtest.arguments import verdicts_topic_problem
from backtest.evaluation import ModelResult, evaluate_model
from backtest.history import NEVER, Collector, History, ReadStats
from backtest.html_report import RunInfo, render_html
from backtest.kafka_source import MissingTopic, PartitionSpan, read_topics
from backtest.models import BacktestModel, ModelRef, load_models
from backtest.plots import plots
from backtest.progress import Progress
from backtest.replay import replay
from backtest.results import BacktestNumbers, results_document, write_json
from backtest.rows import EvaluationRows, evaluation_rows
from backtest.stores import StoreKind, StoreRefused, check_namespace, default_namespace, isolated_store
from backtest.timerange import TimeRange, iso
from backtest.verdicts import write_verdicts
from fraudcore.collector_tuning import fewer_collections
from fraudcore.evaluation import JsonValue
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, FeatureSpec, TxFacts
from fraudcore.features.offline import offline_feature_matrix
from fraudcore.features.store import FeatureStoreUnavailable
from fraudcore.local.errors import InfraError
from fraudcore.models import ModelLoadError, ModelLoadFailure
from fraudcore.redaction import redact_urls
from fraudcore.settings import Settings
from schemas.topics import Topics

# Decisions from the configured thresholds are shared with the scorer (see backtest.verdicts).
from scorer.decisions import Thresholds

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "BacktestConfig", "BacktestError", "BacktestOutcome", "run_backtest"]

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
JSON_NAME: Final = "backtest.json"
HTML_NAME: Final = "backtest.html"


class BacktestError(Exception):
    """The backtest cannot run as asked; ``exit_code`` is the command's exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class BacktestConfig:
    """What to backtest, and how."""

    time_range: TimeRange
    models: tuple[ModelRef, ...]
    output_dir: Path
    store: StoreKind = StoreKind.MEMORY
    redis_namespace: str | None = None
    verdicts_topic: str | None = None
    slack_ms: int = DAY_MS
    """How far after its Kafka timestamp a record's event time may lie (see :mod:`backtest.kafka_source`)."""
    keep_known_compromised: bool = False
    spec: FeatureSpec = field(default=DEFAULT_SPEC)
    k: int = 100


@dataclass(frozen=True)
class BacktestOutcome:
    """What a backtest produced."""

    numbers: BacktestNumbers
    results: list[ModelResult]
    info: RunInfo
    document: dict[str, JsonValue]
    json_path: Path
    html_path: Path


def run_backtest(config: BacktestConfig, settings: Settings, progress: Progress) -> BacktestOutcome:
    """Run the backtest ``config`` describes against the configured Kafka, MLflow (and Redis).

    The garbage collector runs less often meanwhile: a decoded history is hundreds of thousands of
    objects without cycles, which the default thresholds walk over and over (it halves the read)."""
    with fewer_collections():
        return _run_backtest(config, settings, progress)


def _run_backtest(config: BacktestConfig, settings: Settings, progress: Progress) -> BacktestOutcome:
    thresholds = Thresholds.from_settings(settings)
    topics = Topics.with_prefix(settings.topic_prefix)
    _check_verdicts_topic(config.verdicts_topic, topics)
    seconds: dict[str, float] = {}
    namespace = None
    if config.store is StoreKind.REDIS:
        namespace = config.redis_namespace or default_namespace(settings)
        try:
            check_namespace(namespace, settings)
        except StoreRefused as error:
            raise BacktestError(str(error), EXIT_USAGE) from error

    started = time.monotonic()
    models = _load(config, settings)
    seconds["load models"] = time.monotonic() - started

    started = time.monotonic()
    history, stats, spans = _read(config, settings, topics, progress)
    progress.finish()
    seconds["read"] = time.monotonic() - started
    _require_transactions(history, stats, config.time_range, topics)

    rows = evaluation_rows(history, config.time_range, keep_known_compromised=config.keep_known_compromised)
    _require_labels(rows, topics)
    in_range_rows = np.flatnonzero(rows.in_range)

    progress.start("replay", len(history))
    in_range = _features(config, settings, namespace, history, in_range_rows, progress)
    seconds["replay"] = progress.finish()

    progress.start("score", len(models) * len(in_range))
    scores = [_score(model, in_range, progress) for model in models]
    seconds["score"] = progress.finish()

    started = time.monotonic()
    review, decline = thresholds.review, thresholds.decline
    results = [
        evaluate_model(model, rows, model_scores, review=review, decline=decline, k=config.k)
        for model, model_scores in zip(models, scores, strict=True)
    ]
    seconds["evaluate"] = time.monotonic() - started

    verdicts = None
    if config.verdicts_topic is not None:
        progress.start("verdicts", len(models) * len(in_range))
        facts = history.facts(in_range_rows)
        sent = _write_verdicts(config.verdicts_topic, settings, models, facts, in_range, scores, thresholds, progress)
        seconds["verdicts"] = progress.finish()
        verdicts = (config.verdicts_topic, sent)

    started = time.monotonic()
    numbers = BacktestNumbers(
        time_range=config.time_range,
        spec=config.spec,
        review=review,
        decline=decline,
        k=config.k,
        keep_known_compromised=config.keep_known_compromised,
        stats=stats,
        rows=rows,
        results=results,
    )
    document = results_document(numbers)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = config.output_dir / JSON_NAME, config.output_dir / HTML_NAME
    write_json(json_path, document)
    figures = plots(results)
    seconds["report"] = time.monotonic() - started
    store = "in memory"
    if namespace is not None:
        store = f"Redis at {_redis_host(settings)}, namespace {namespace} (deleted afterwards)"
    info = RunInfo(
        generated_at=datetime.now(UTC),
        store=store,
        seconds=seconds,
        transactions_replayed=len(history),
        spans=spans,
        verdicts=verdicts,
        json_name=JSON_NAME,
    )
    partial = html_path.with_name(HTML_NAME + ".partial")
    partial.write_text(render_html(numbers, results, figures, info), encoding="utf-8")
    partial.replace(html_path)
    return BacktestOutcome(numbers, results, info, document, json_path, html_path)


def _score(model: BacktestModel, matrix: npt.NDArray[np.float64], progress: Progress) -> npt.NDArray[np.float64]:
    scores = model.loaded.bundle.score(matrix)
    progress.advance(len(matrix))
    return scores


def _check_verdicts_topic(topic: str | None, topics: Topics) -> None:
    problem = verdicts_topic_problem(topic, topics)
    if problem is not None:
        raise BacktestError(problem, EXIT_USAGE)


def _load(config: BacktestConfig, settings: Settings) -> list[BacktestModel]:
    from fraudcore.mlflow_store import connect
    from fraudcore.models import verification_keys

    try:
        return load_models(connect(settings), config.models, config.spec, verification_keys(settings))
    except ModelLoadError as error:
        if error.reason is ModelLoadFailure.STORE_UNAVAILABLE:
            where = redact_urls(settings.tracking_uri)
            raise InfraError(f"the MLflow store at {where} is unavailable: {error.message}") from error
        code = EXIT_USAGE if error.reason is ModelLoadFailure.NOT_FOUND else EXIT_FAILED
        raise BacktestError(f"cannot use the model: {error}", code) from error


def _write_verdicts(
    topic: str,
    settings: Settings,
    models: list[BacktestModel],
    facts: list[TxFacts],
    matrix: npt.NDArray[np.float64],
    scores: list[npt.NDArray[np.float64]],
    thresholds: Thresholds,
    progress: Progress,
) -> int:
    try:
        return asyncio.run(
            write_verdicts(settings, topic, models, facts, matrix, scores, thresholds, on_progress=progress.advance)
        )
    except KafkaError as error:
        raise InfraError(f"cannot write the verdicts to {topic} at {settings.bootstrap_servers}: {error}") from error


def _read(
    config: BacktestConfig, settings: Settings, topics: Topics, progress: Progress
) -> tuple[History, ReadStats, list[PartitionSpan]]:
    window_start = config.time_range.replay_from_ms(config.spec)
    collector = Collector(window_start, config.time_range.end_ms, datetime.now(UTC), config.spec)
    try:
        spans = asyncio.run(
            read_topics(
                settings,
                topics,
                collector,
                since_ms=window_start - config.slack_ms,
                on_total=lambda total: progress.start("read", total),
                on_progress=progress.advance,
            )
        )
    except MissingTopic as error:
        raise BacktestError(str(error), EXIT_USAGE) from error
    except KafkaError as error:
        raise InfraError(f"cannot read the topics from Kafka at {settings.bootstrap_servers}: {error}") from error
    return collector.history(), collector.stats, spans


def _features(
    config: BacktestConfig,
    settings: Settings,
    namespace: str | None,
    history: History,
    rows: npt.NDArray[np.int64],
    progress: Progress,
) -> npt.NDArray[np.float64]:
    """The features of the history's ``rows``: computed on its columns in memory (for those rows
    only), or replayed through an isolated Redis namespace (every row: the online store's own code)."""
    if config.store is StoreKind.MEMORY:
        fraud_labeled_at = np.where(history.is_fraud, history.labeled_at_ms, NEVER)
        matrix = offline_feature_matrix(
            history.event_time_ms,
            history.amount_cents,
            history.customer,
            history.terminal,
            fraud_labeled_at,
            config.spec,
            rows=rows,
        )
        progress.advance(len(history))
        return matrix

    async def go() -> npt.NDArray[np.float64]:
        async with isolated_store(config.store, settings, config.spec, namespace) as store:
            return await replay(store, history, config.spec, on_progress=progress.advance)

    try:
        return asyncio.run(go())[rows]
    except StoreRefused as error:
        raise BacktestError(str(error), EXIT_USAGE) from error
    except (FeatureStoreUnavailable, RedisError) as error:
        raise InfraError(f"Redis at {_redis_host(settings)} is unavailable: {error}") from error


def _require_transactions(history: History, stats: ReadStats, window: TimeRange, topics: Topics) -> None:
    times = history.event_time_ms
    if ((times >= window.start_ms) & (times < window.end_ms)).any():
        return
    if stats.first_event_ms is None:
        seen = "no valid transaction was read"
    else:
        seen = f"the transactions read span {iso(stats.first_event_ms)} to {iso(stats.last_event_ms or 0)}"
    raise BacktestError(
        f"no transaction in {topics.transactions} has an event time from {iso(window.start_ms)} to "
        f"{iso(window.end_ms)} ({seen}); choose a range that holds transactions",
    )


def _require_labels(rows: EvaluationRows, topics: Topics) -> None:
    in_range = int(rows.in_range.sum())
    labelled = int((rows.in_range & rows.data.labelled).sum())
    if not labelled:
        raise BacktestError(
            f"none of the {in_range:,} transactions in range has a label in {topics.labels} yet (labels arrive "
            "days after their transaction); choose an earlier range, or wait for the labels"
        )
    if not rows.evaluated.any():
        raise BacktestError(
            f"all {labelled:,} labelled transactions in range belong to cards already known to be compromised; "
            "pass --keep-known-compromised to evaluate them anyway"
        )


def _redis_host(settings: Settings) -> str:
    """Where Redis listens, without the URL's credentials."""
    where = urlsplit(settings.redis_connection_url)
    return f"{where.hostname}:{where.port or 6379}"
