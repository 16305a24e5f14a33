"""``fraudstream score``: run one scorer worker (a Faust worker in the scorer's consumer group)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.features.memory import MemoryFeatureStore
from fraudcore.features.open_store import open_feature_store
from fraudcore.features.store import FeatureStore
from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.local.errors import InfraError
from fraudcore.log_throttle import throttle_repeats
from fraudcore.mlflow_store import fail_fast_over_http, forbid_pickle_loading
from fraudcore.models.keys import verification_keys
from fraudcore.models.signing import VerificationKeys
from fraudcore.redis_eviction import EvictionCheck
from fraudcore.settings import Settings
from fraudstream.overrides import with_overrides
from scorer.decisions import Thresholds
from scorer.metrics import ScorerMetrics
from scorer.model_holder import ModelHolder
from scorer.model_source import RegistrySource
from scorer.runtime import ScorerRuntime
from scorer.scoring import BatchScorer

__all__ = ["add_parser", "score"]

EXIT_NO_MODEL = 1


def add_parser(commands: Any) -> None:
    """Register ``score`` and its options (each overrides the matching FRAUD_* variable)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "score",
        help="run a scorer worker: transactions in, verdicts out (Ctrl-C stops it cleanly)",
        description="Start one scorer worker in the scorer's consumer group. Start more (on other web ports) "
        "to share the partitions. It serves models:/<FRAUD_MODEL_NAME>@champion from MLflow and answers "
        "HTTP on FRAUD_SCORER_WEB_PORT: POST /score, POST /reload, GET /model, /health, /ready, /metrics; "
        "POST /reload and POST /score?record=true need 'Authorization: Bearer <FRAUD_API_TOKEN>' (refused "
        "when it is unset), POST /score too with FRAUD_API_SCORE_REQUIRES_TOKEN=true.",
    )
    parser.add_argument("--batch-size", type=int, metavar="N", help="micro-batch size (FRAUD_SCORER_BATCH_SIZE)")
    parser.add_argument(
        "--within", type=float, metavar="SECONDS", help="longest wait to fill a batch (FRAUD_SCORER_BATCH_WITHIN_S)"
    )
    parser.add_argument(
        "--ready-size",
        type=int,
        metavar="N",
        help="pending transactions that start a batch without that wait (FRAUD_SCORER_BATCH_READY_SIZE)",
    )
    parser.add_argument("--web-port", type=int, metavar="PORT", help="HTTP port (FRAUD_SCORER_WEB_PORT)")
    parser.add_argument(
        "--shadow", action="store_true", default=None, help="also score with the challenger (FRAUD_SHADOW_SCORING)"
    )
    parser.add_argument(
        "--canary", type=float, metavar="SHARE", help="share of cards the challenger decides for (FRAUD_CANARY_SHARE)"
    )
    parser.add_argument(
        "--feature-store",
        choices=("redis", "memory"),
        default="redis",
        help="where the online features live: redis (default; shared by every worker) or memory, for "
        "benchmarks and single-worker development only: the features are then per process, not shared with "
        "other workers, start empty and are lost when the worker stops",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(handler=score)


_CHATTY_LOGGERS = ("aiokafka", "aiokafka.cluster", "aiokafka.producer.sender", "aiokafka.consumer.group_coordinator")
"""aiokafka loggers that repeat a message at every retry (a missing topic: ten times a second)."""
_REPEAT_EVERY_S = 30.0


def score(args: argparse.Namespace, settings: Settings) -> int:
    """Load the champion, then run the worker until it is stopped."""
    settings = with_overrides(
        settings,
        scorer_batch_size=args.batch_size,
        scorer_batch_within_s=args.within,
        scorer_batch_ready_size=args.ready_size,
        scorer_web_port=args.web_port,
        shadow_scoring=args.shadow,
        canary_share=args.canary,
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    throttle_repeats(_CHATTY_LOGGERS, _REPEAT_EVERY_S)
    fail_fast_over_http()  # a refresh while MLflow is away fails in seconds; the periodic check retries it
    forbid_pickle_loading()  # models are read with skops only; MLflow may not fall back to pickle either
    keys = verification_keys(settings)  # missing keys: a configuration error, before anything starts
    try:
        topics = asyncio.run(ensure_project_topics(settings))
    except Exception as exc:
        raise InfraError(f"Kafka at {settings.bootstrap_servers} is not reachable: {exc}") from exc

    holder = _load_models(settings, keys)
    if holder is None:
        return EXIT_NO_MODEL
    metrics = ScorerMetrics()
    store: FeatureStore
    if args.feature_store == "memory":
        store = MemoryFeatureStore(DEFAULT_SPEC)
        features = "features in process memory (not shared with other workers)"
    else:
        _refuse_rejected_redis_credentials(settings)
        store = open_feature_store(settings, DEFAULT_SPEC, settings.redis_namespace)
        features = f"features in Redis namespace {settings.redis_namespace}"
    scorer = BatchScorer(
        store,
        holder,
        Thresholds.from_settings(settings),
        reason_count=settings.reason_count,
        canary_share=settings.canary_share,
    )
    runtime = ScorerRuntime(settings, topics, store, holder, scorer, metrics)
    if args.feature_store != "memory":
        runtime.report_eviction(_redis_eviction(settings))

    import faust

    from scorer.app import create_app
    from scorer.process_tuning import tune_process

    app = create_app(settings, runtime)
    tune_process(settings.scorer_model_threads)
    print(
        f"scorer: model {holder.model_name} version {holder.champion.version}; "
        f"consuming {topics.transactions} as group {settings.scorer_group}; {features}; "
        f"HTTP on {settings.scorer_web_host}:{settings.scorer_web_port}",
        flush=True,
    )
    worker = faust.Worker(app, runtime, loglevel=args.log_level.upper(), override_logging=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def _redis_eviction(settings: Settings) -> EvictionCheck:
    """Redis's eviction policy, judged (unknown when Redis does not answer now)."""
    import redis

    from fraudcore.redis_auth import redis_credentials
    from fraudcore.redis_eviction import check_eviction, judge_policy

    client = redis.Redis.from_url(settings.redis_connection_url, socket_timeout=5.0, **redis_credentials(settings))
    try:
        return check_eviction(client)
    except Exception as exc:  # noqa: BLE001 - unreachable now: say so, the worker waits for Redis anyway
        return judge_policy(None, f"Redis does not answer: {exc}")
    finally:
        client.close()


def _refuse_rejected_redis_credentials(settings: Settings) -> None:
    """Stop before starting when Redis refuses the credentials (a Redis that is down is waited for)."""
    from fraudcore.local.health import check_redis
    from fraudcore.redis_auth import RedisAuthRefused

    try:
        check_redis(settings)
    except RedisAuthRefused as refused:
        raise InfraError(str(refused)) from refused
    except Exception as exc:  # noqa: BLE001 - unreachable now: the worker waits for it, as while running
        logging.getLogger(__name__).warning("Redis does not answer yet (%s); the worker waits for it", exc)


def _load_models(settings: Settings, keys: VerificationKeys) -> ModelHolder | None:
    """The holder with the champion loaded (and the challenger when shadowing), or None after
    explaining why the champion cannot be served."""
    from fraudcore.features.definition import FEATURE_NAMES
    from fraudcore.mlflow_store import connect
    from fraudcore.models import CHALLENGER, ModelLoadError, ModelLoadFailure

    source = RegistrySource(
        lambda: connect(settings),
        settings.model_name,
        FEATURE_NAMES,
        keys=keys,
        expected_spec_digest=DEFAULT_SPEC.digest,
    )
    holder = ModelHolder(source, hold_challenger=settings.shadow_scoring or settings.canary_share > 0)
    for alias in holder.aliases:
        try:
            version = source.resolve(alias)
            if version is None:
                raise ModelLoadError(
                    ModelLoadFailure.NOT_FOUND,
                    f"no {alias!r} alias; train and promote a model first "
                    "(`fraudstream demo` or `fraudstream train` registers a champion)",
                )
            loaded = source.load(version)
        except ModelLoadError as error:
            if alias == CHALLENGER and error.reason is ModelLoadFailure.NOT_FOUND:
                continue
            print(f"fraudstream score: cannot serve models:/{settings.model_name}@{alias}: {error}", file=sys.stderr)
            return None
        holder.install(alias, loaded)
    return holder
