"""``fraudstream demo``: the whole pipeline on the embedded default, live on the terminal.

Steps: start the local infrastructure; reset the demo's own topics (prefix ``demo.``), Redis
namespace and registered model; produce simulated history; train a first champion (logistic
regression) on it; start a scorer worker and a trainer (gradient boosting) as processes; let the
scorer catch up on the history; stream live transactions with delayed labels at ``--rate`` for
``--duration`` seconds while printing throughput, latency, decisions, fraud caught and the model
versions deciding; the trainer retrains during the run and the scorer swaps to a promoted version
without a pause. Ends with a summary; the infrastructure keeps running unless ``--stop-infra``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.kafka_admin import delete_topics, ensure_project_topics, project_topics
from fraudcore.settings import Settings, child_environment
from fraudstream import infra_commands
from fraudstream.demo_monitor import VerdictMonitor
from fraudstream.help_text import plain
from fraudstream.overrides import with_overrides
from producer.kafka_sink import KafkaEventSink
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.events import Label, Transaction

if TYPE_CHECKING:
    from trainer.service import RetrainReport

__all__ = ["add_parser", "demo"]

_STATUS_EVERY_S = 5.0


def add_parser(commands: Any) -> None:
    """Register ``demo`` and its options."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="run the whole pipeline locally: history, training, scoring, live stream, retrain and swap",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=120.0, metavar="SECONDS", help="live phase (120)")
    parser.add_argument("--rate", type=float, default=300.0, metavar="N", help="live transactions per second (300)")
    parser.add_argument("--history-days", type=int, default=30, metavar="DAYS", help="simulated history (30)")
    parser.add_argument("--customers", type=int, default=2000, help="simulated customers (2000)")
    parser.add_argument("--terminals", type=int, default=4000, help="simulated terminals (4000)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (0)")
    parser.add_argument("--stop-infra", action="store_true", help="stop Kafka, Redis and MLflow at the end")
    parser.set_defaults(handler=demo)


def demo(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo; 0 when every live transaction got its verdict."""
    problems = [
        message
        for wrong, message in (
            (args.duration <= 0, "--duration must be positive"),
            (args.rate <= 0, "--rate must be positive"),
            (args.history_days < 25, "--history-days must be at least 25 (the trainer's windows)"),
            (args.customers <= 0 or args.terminals <= 0, "--customers and --terminals must be positive"),
        )
        if wrong
    ]
    if problems:
        print("fraudstream demo: " + "; ".join(problems), file=sys.stderr)
        return 2
    if infra_commands.up(args, settings) != 0:
        return 1
    demo_settings = with_overrides(
        settings,
        topic_prefix=f"{settings.topic_prefix}demo.",
        model_name=f"{settings.model_name}-demo",
        redis_namespace=f"{settings.redis_namespace}-demo",
        scorer_group=f"{settings.scorer_group}-demo",
        trainer_train_days=7,
        trainer_test_days=3,
        trainer_folds=1,
        trainer_retrain_every_days=3.0,
        trainer_retrain_every_labels=10_000_000,
        model_check_interval_s=10.0,
    )
    try:
        return asyncio.run(_run(args, demo_settings))
    finally:
        if args.stop_infra:
            infra_commands.down(argparse.Namespace(wipe=False), settings)
        else:
            print("\nThe infrastructure keeps running (`fraudstream down` stops it).")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    print(f"\n[1/5] resetting the demo's topics ({settings.topic_prefix}*), Redis keys and model {settings.model_name}")
    await _reset(settings)
    topics = await ensure_project_topics(settings)
    params = SimulationParams(
        seed=args.seed,
        n_customers=args.customers,
        n_terminals=args.terminals,
        days=args.history_days + 60,
    )
    stream = SimulatedStream(params, LabelPolicy(delay=timedelta(days=DEFAULT_SPEC.label_delay_days)))
    events = stream.events()
    cut = params.start + timedelta(days=args.history_days)

    print(f"[2/5] producing {args.history_days} days of simulated history ({args.customers:,} customers)")
    started = time.monotonic()
    first_live: Transaction | Label | None = None
    async with KafkaEventSink(settings, topics) as sink:
        history = 0
        for event in events:
            if _time_of(event) >= cut:
                first_live = event
                break
            await sink.send(event)
            history += isinstance(event, Transaction)
    print(f"      {history:,} transactions and their labels in {time.monotonic() - started:.0f} s")

    print("[3/5] training the first champion (logistic regression) on the history")
    report = await asyncio.to_thread(_bootstrap_champion, settings)
    print(f"      {report.summary()}")
    if not report.registered.promoted:
        print(
            "fraudstream demo: the first model did not beat the baseline; give it more --history-days or --customers",
            file=sys.stderr,
        )
        return 1

    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    web_port = _free_port()
    print(f"[4/5] starting a scorer (HTTP on http://127.0.0.1:{web_port}/model, log {log_dir}/demo-scorer.log)")
    scorer = _spawn(["score"], settings, log_dir / "demo-scorer.log", FRAUD_SCORER_WEB_PORT=str(web_port))
    trainer: _Child | None = None
    monitor = VerdictMonitor(settings, topics)
    stop_monitor = asyncio.Event()
    watching = asyncio.create_task(monitor.run(stop_monitor))
    try:
        if not await _caught_up(monitor, scorer, history, web_port):
            return 1
        print(f"[5/5] streaming live transactions at {args.rate:,.0f}/s for {args.duration:.0f} s (Ctrl-C ends early);")
        print(f"      a trainer (gradient boosting) retrains as labels arrive (log {log_dir}/demo-trainer.log)")
        trainer = _spawn(
            ["train"],
            settings,
            log_dir / "demo-trainer.log",
            FRAUD_TRAINER_MODEL_KIND="boosting",
            FRAUD_TRAINER_METRICS_PORT=str(_free_port()),
        )
        sent = await _live(settings, topics, _resume(first_live, events), monitor, args)
        await _drain(monitor, sent)
    finally:
        stop_monitor.set()
        await watching
        for child in (scorer, trainer):
            if child is not None:
                _stop(child.process)
    print("\nsummary")
    for line in monitor.summary(sent):
        print(f"  {line}")
    return 0 if sum(monitor.live_versions.values()) == sent else 1


async def _drain(monitor: VerdictMonitor, sent: int, *, stall_s: float = 30.0, limit_s: float = 600.0) -> None:
    """Wait for the verdicts still in flight: as long as they keep arriving (a scorer behind the live
    rate on a busy machine catches up), until none came for ``stall_s`` or ``limit_s`` passed."""
    started = last_progress = time.monotonic()
    seen = sum(monitor.live_versions.values())
    if seen < sent:
        print(f"      waiting for {sent - seen:,} verdicts still in flight")
    while seen < sent and time.monotonic() - last_progress < stall_s and time.monotonic() - started < limit_s:
        await asyncio.sleep(0.5)  # the monitor task counts; poll it
        now_seen = sum(monitor.live_versions.values())
        if now_seen > seen:
            seen, last_progress = now_seen, time.monotonic()


async def _reset(settings: Settings) -> None:
    import redis.asyncio as aioredis

    from fraudcore.mlflow_store import connect
    from fraudcore.redis_auth import redis_credentials

    await delete_topics(settings, project_topics(settings).all())
    client = aioredis.Redis.from_url(settings.redis_connection_url, **redis_credentials(settings))
    try:
        doomed: list[bytes] = []
        async for key in client.scan_iter(match=f"{settings.redis_namespace}:*", count=5000):
            doomed.append(key)
            if len(doomed) >= 5000:
                await client.unlink(*doomed)
                doomed.clear()
        if doomed:
            await client.unlink(*doomed)
    finally:
        await client.aclose()
    registry = await asyncio.to_thread(connect, settings)
    if await asyncio.to_thread(registry.search_registered_models, f"name = '{settings.model_name}'"):
        await asyncio.to_thread(registry.delete_registered_model, settings.model_name)
    await asyncio.sleep(1.0)  # topic deletion completes asynchronously on the broker


def _bootstrap_champion(settings: Settings) -> RetrainReport:
    from fraudcore.mlflow_store import connect
    from fraudcore.model_kind import ModelKind
    from trainer.service import Trainer
    from trainer.training import TrainingConfig

    config = replace(TrainingConfig.from_settings(settings), kind=ModelKind.LOGISTIC)
    trainer = Trainer(settings, project_topics(settings), lambda: connect(settings), config)
    asyncio.run(trainer.catch_up())
    return trainer.retrain()


class _Child:
    def __init__(self, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.process = process
        self.log = log


def _spawn(command: list[str], settings: Settings, log_path: Path, **extra: str) -> _Child:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FRAUD_")}
    env |= child_environment(
        settings, kafka_bootstrap=settings.bootstrap_servers, redis_url=settings.redis_connection_url
    )
    env |= extra
    log = log_path.open("wb")
    argv = [sys.executable, "-m", "fraudstream", *command]
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)  # noqa: S603 - our own command
    return _Child(process, log)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _caught_up(monitor: VerdictMonitor, scorer: _Child, history: int, web_port: int) -> bool:
    started = last = time.monotonic()
    while len(monitor.verdicts) < history:
        if scorer.process.poll() is not None:
            print("fraudstream demo: the scorer stopped; see its log", file=sys.stderr)
            return False
        if time.monotonic() - last >= _STATUS_EVERY_S:
            last = time.monotonic()
            print(
                f"      scorer catching up on the history: {len(monitor.verdicts):,}/{history:,} verdicts", flush=True
            )
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - started
    print(f"      caught up: {history:,} verdicts in {elapsed:.0f} s ({history / max(elapsed, 1e-9):,.0f}/s)")
    served = await asyncio.to_thread(_get, f"http://127.0.0.1:{web_port}/model")
    print(f"      scorer serves: {served[:160]}...")
    return True


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own scorer
        body: bytes = answer.read()
        return body.decode()


def _time_of(event: Transaction | Label) -> Any:
    return event.event_time if isinstance(event, Transaction) else event.labeled_at


def _resume(first: Transaction | Label | None, rest: Iterator[Transaction | Label]) -> Iterator[Transaction | Label]:
    if first is not None:
        yield first
    yield from rest


async def _live(
    settings: Settings, topics: Any, events: Iterator[Transaction | Label], monitor: VerdictMonitor, args: Any
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    sent = 0
    started = time.monotonic()
    next_status = started + _STATUS_EVERY_S
    try:
        async with KafkaEventSink(settings, topics) as sink:
            for event in events:
                now = time.monotonic()
                if stop.is_set() or now - started >= args.duration:
                    break
                if isinstance(event, Transaction):
                    delay = started + sent / args.rate - now
                    if delay > 0:
                        await asyncio.sleep(delay)
                    monitor.track(event.transaction_id, bool(event.fraud_scenario))
                    sent += 1
                await sink.send(event)
                if now >= next_status:
                    next_status = now + _STATUS_EVERY_S
                    print(f"      {now - started:4.0f} s  {monitor.status(sent)}", flush=True)
                    for line in monitor.unseen_model_events():
                        print(f"      >>> {line}", flush=True)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return sent


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
