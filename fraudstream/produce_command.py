"""``fraudstream produce``: simulated or file-based transactions and labels to Kafka or to files."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError

from fraudcore.collector_tuning import fewer_collections
from fraudcore.kafka_admin import ensure_project_topics
from fraudcore.local.errors import InfraError
from fraudcore.local.health import require_kafka
from fraudcore.log_throttle import throttle_repeats
from fraudcore.metrics_server import serve_metrics
from fraudcore.settings import Settings
from fraudstream.overrides import with_overrides
from producer.files import DatasetFiles, FileFormat, RowError, format_of, read_events
from producer.kafka_sink import KafkaEventSink
from producer.metrics import ProducerMetrics, mirrored
from producer.pacing import Pacer, Progress
from producer.pump import EventSink, Limits, PumpResult, pump
from producer.simulated_events import LabelPolicy, SimulatedStream
from producer.simulator import SimulationParams
from schemas.events import Event, Label, Transaction
from schemas.fields import TIME_FLOOR

__all__ = ["add_parser", "produce"]

EXIT_INTERRUPTED = 130
EXIT_KAFKA_LOST = 3
"""Kafka is unreachable at the start, or stopped acknowledging during the run."""
_CHATTY_LOGGERS = ("aiokafka", "aiokafka.client", "aiokafka.cluster", "aiokafka.conn", "aiokafka.producer.sender")
"""aiokafka loggers that repeat a message at every retry (a lost broker: thousands of times a second)."""
_REPEAT_EVERY_S = 10.0
_SHOWN_ROW_ERRORS = 20
_SIMULATION_FLAGS = (
    "seed",
    "start",
    "days",
    "customers",
    "terminals",
    "overrides",
    "label_delay_days",
    "label_fraction",
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive finite number")
    return value


def _non_negative_float(text: str) -> float:
    if text.strip() == "0":
        return 0.0
    return _positive_float(text)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be within 0 and 1")
    return value


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2018-04-01 or 2018-04-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _start(text: str) -> datetime:
    moment = _date(text)
    if moment < TIME_FLOOR:
        raise argparse.ArgumentTypeError(
            f"{text} is before {TIME_FLOOR:%Y-%m-%d}, the earliest event time the contract accepts"
        )
    return moment


def _override(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    fields = {field.name for field in dataclasses.fields(SimulationParams)}
    if not equals or name not in fields:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME one of {', '.join(sorted(fields))}")
    return name, value


def add_parser(commands: Any) -> None:
    """Register ``produce`` and its options."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "produce",
        help="produce simulated (or file) transactions and their delayed labels",
        description="Produce transactions to the transactions topic and their labels, delayed, to the labels "
        "topic (idempotent producer, acks=all). By default the seeded handbook simulator generates them as "
        "fast as possible; --from-file sends a CSV/JSONL dataset instead; --to-file writes a dataset. "
        "With FRAUD_PRODUCER_METRICS_PORT (or --metrics-port) set, it serves Prometheus metrics on "
        "http://FRAUD_METRICS_HOST:PORT/metrics while it produces to Kafka (not with --to-file); the server "
        "stops when the command ends.",
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=_positive_float, metavar="N", help="pace to N transactions per second")
    pace.add_argument(
        "--as-fast-as-possible", action="store_true", help="no pacing (the default when --rate is not given)"
    )
    parser.add_argument("--count", type=_positive_int, metavar="N", help="stop after N transactions")
    parser.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="stop after this wall time")
    simulation = parser.add_argument_group("simulation (ignored with --from-file)")
    simulation.add_argument("--seed", type=int, help="random seed; the same seed gives the same stream (0)")
    simulation.add_argument("--start", type=_start, help="simulated start date, UTC unless given (2018-04-01)")
    simulation.add_argument("--days", type=_positive_int, help="simulated days (183)")
    simulation.add_argument("--customers", type=_positive_int, help="number of customers (5000)")
    simulation.add_argument("--terminals", type=_positive_int, help="number of terminals (10000)")
    simulation.add_argument(
        "--set",
        dest="overrides",
        type=_override,
        action="append",
        metavar="NAME=VALUE",
        help="any other simulator parameter, e.g. --set amount_threshold=250 (repeatable)",
    )
    simulation.add_argument(
        "--label-delay-days", type=_non_negative_float, help="simulated delay before a label is known (7)"
    )
    simulation.add_argument("--label-fraction", type=_fraction, help="share of transactions that get a label (1.0)")
    files = parser.add_argument_group("files")
    files.add_argument("--from-file", type=Path, metavar="PATH", help="send the events of a CSV or JSONL file")
    files.add_argument("--kind", choices=("transaction", "label"), default="transaction", help="what --from-file holds")
    files.add_argument(
        "--to-file",
        type=Path,
        metavar="PATH",
        help="write the events to PATH (labels to <stem>.labels<suffix>) instead of Kafka",
    )
    files.add_argument("--format", type=FileFormat, choices=list(FileFormat), help="file format (default: suffix)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics on this port while producing to Kafka (FRAUD_PRODUCER_METRICS_PORT; default: none)",
    )
    parser.set_defaults(handler=produce)


def produce(args: argparse.Namespace, settings: Settings) -> int:
    """Run the producer; exit 0 when all was delivered, 1 when rows were refused or sends failed, 2 on
    bad options, 3 when Kafka is unreachable or the metrics port is taken, or when Kafka stops
    acknowledging for ``FRAUD_SERVICE_WAIT_S`` during the run (the acknowledged counts are printed), 130
    when interrupted."""
    settings = with_overrides(settings, producer_metrics_port=args.metrics_port)
    try:
        if args.to_file is not None:
            format_of(args.to_file, args.format)
        source, leftover = _source(args)
    except (ValueError, OSError) as exc:
        print(f"fraudstream produce: {exc}", file=sys.stderr)
        return 2
    with fewer_collections():  # millions of short-lived events: the collector would re-walk the start-up heap
        return asyncio.run(_produce(args, settings, source, leftover))


def _simulation(args: argparse.Namespace) -> tuple[SimulationParams, LabelPolicy]:
    changes: dict[str, object] = {}
    for name, value in args.overrides or ():
        field_type = {field.name: field.type for field in dataclasses.fields(SimulationParams)}[name]
        try:
            changes[name] = _parse_override(str(field_type), value)
        except ValueError:
            raise ValueError(f"--set {name}={value}: expected a value of type {field_type}") from None
    for flag, name in (("seed", "seed"), ("start", "start"), ("days", "days")):
        if getattr(args, flag) is not None:
            changes[name] = getattr(args, flag)
    if args.customers is not None:
        changes["n_customers"] = args.customers
    if args.terminals is not None:
        changes["n_terminals"] = args.terminals
    params = SimulationParams(**changes)  # type: ignore[arg-type]
    delay = timedelta(days=args.label_delay_days if args.label_delay_days is not None else 7)
    return params, LabelPolicy(delay=delay, fraction=1.0 if args.label_fraction is None else args.label_fraction)


def _parse_override(field_type: str, value: str) -> object:
    if field_type.endswith(" | None"):
        return None if value.lower() == "none" else _parse_override(field_type.removesuffix(" | None"), value)
    if field_type == "int":
        return int(value)
    if field_type == "float":
        return float(value)
    if field_type == "datetime":
        return _date(value)
    raise ValueError(field_type)


Source = tuple[Iterator[Event | RowError], Callable[[], Sequence[Label]]]


def _source(args: argparse.Namespace) -> Source:
    if args.from_file is None:
        params, labels = _simulation(args)
        stream = SimulatedStream(params, labels)
        return stream.events(args.count), stream.pending_labels
    given = [flag for flag in _SIMULATION_FLAGS if getattr(args, flag) is not None]
    if given:
        names = ", ".join("--" + flag.replace("_", "-").replace("overrides", "set") for flag in given)
        raise ValueError(f"{names}: simulator options, not valid with --from-file")
    if not args.from_file.is_file():
        raise ValueError(f"--from-file {args.from_file}: no such file")
    model: type[Event] = Transaction if args.kind == "transaction" else Label
    return read_events(args.from_file, model, datetime.now(UTC), args.format), list


async def _produce(
    args: argparse.Namespace,
    settings: Settings,
    source: Iterator[Event | RowError],
    leftover: Callable[[], Sequence[Label]],
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    total = args.count if args.count else None
    progress = Progress(total, enabled=not args.quiet)
    limits = Limits(max_transactions=args.count, duration_s=args.duration)
    scenarios: Counter[int] = Counter()
    counted = _counting(source, scenarios)
    pacer = Pacer(args.rate)

    async def run(sink: EventSink, result: PumpResult | None = None) -> PumpResult:
        return await pump(
            counted,
            sink,
            pacer=pacer,
            progress=progress,
            limits=limits,
            stop=stop,
            leftover_labels=leftover,
            result=result,
        )

    if args.to_file is not None:
        files = DatasetFiles(args.to_file, args.format)
        try:
            result = await run(files)
        finally:
            files.close()
        destinations = [f"{writer.path} ({writer.count:,})" for writer in (files.transactions, files.labels)]
        return _report(result, scenarios, destinations, failures=[])
    metrics = None if settings.producer_metrics_port is None else ProducerMetrics()
    throttle_repeats(_CHATTY_LOGGERS, _REPEAT_EVERY_S)
    try:
        with _serving(settings, metrics, args.rate):  # first: a port in use stops the command before Kafka
            await asyncio.to_thread(require_kafka, settings)
            topics = await ensure_project_topics(settings)
            sink, result = KafkaEventSink(settings, topics), PumpResult()
            async with _mirroring(metrics, sink, result), sink:  # the last mirror follows the sink's flush

                async def delivered() -> None:
                    await run(sink, result)
                    await sink.flush()

                lost = await _unless_stalled(delivered(), sink, settings.service_wait_s)
                if lost:
                    sink.abandon()
    except KafkaConnectionError as exc:
        raise InfraError(
            f"Kafka at {settings.bootstrap_servers} is not reachable ({exc}); start it with `fraudstream up` "
            "or point FRAUD_KAFKA_BOOTSTRAP at your cluster"
        ) from exc
    except KafkaError as exc:
        raise InfraError(f"Kafka at {settings.bootstrap_servers} refused the producer: {exc!r}") from exc
    destinations = [f"{topic} ({count:,} acknowledged)" for topic, count in sorted(sink.acknowledged.items())]
    status = _report(result, scenarios, destinations, failures=sink.failures)
    if not lost:
        return status
    acknowledged = sink.tallies()
    print(
        f"fraudstream produce: Kafka at {settings.bootstrap_servers} stopped acknowledging: nothing for "
        f"{settings.service_wait_s:g} s (FRAUD_SERVICE_WAIT_S) while {sink.unacknowledged:,} messages waited. "
        f"Acknowledged: {acknowledged['transaction', 'acknowledged']:,} transactions and "
        f"{acknowledged['label', 'acknowledged']:,} labels; the rest may be lost or may still have arrived. "
        f"Exit code {EXIT_KAFKA_LOST}.",
        file=sys.stderr,
    )
    return EXIT_KAFKA_LOST


async def _unless_stalled(work: Coroutine[Any, Any, None], sink: KafkaEventSink, wait_s: float) -> bool:
    """Run ``work`` to its end (``False``), or cancel it when the broker stops acknowledging (``True``)."""
    working = asyncio.create_task(work)
    watching = asyncio.create_task(sink.stalled(wait_s))
    await asyncio.wait({working, watching}, return_when=asyncio.FIRST_COMPLETED)
    if working.done():
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        working.result()
        return False
    working.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await working
    return True


def _serving(
    settings: Settings, metrics: ProducerMetrics | None, rate: float | None
) -> contextlib.AbstractContextManager[object]:
    if metrics is None or settings.producer_metrics_port is None:
        return contextlib.nullcontext()
    metrics.rate_target.set(rate or 0)
    server = serve_metrics(
        metrics.registry,
        settings.metrics_host,
        settings.producer_metrics_port,
        service="the producer",
        setting="FRAUD_PRODUCER_METRICS_PORT",
    )
    print(f"producer: metrics on {server.url}", file=sys.stderr, flush=True)
    return server


@contextlib.asynccontextmanager
async def _mirroring(metrics: ProducerMetrics | None, sink: KafkaEventSink, result: PumpResult) -> AsyncIterator[None]:
    if metrics is None:
        yield
        return
    async with mirrored(metrics, lambda: (sink.tallies(), result.rejected_rows)):
        yield


def _counting(events: Iterator[Event | RowError], scenarios: Counter[int]) -> Iterator[Event | RowError]:
    for event in events:
        if isinstance(event, Transaction) and event.fraud_scenario is not None:
            scenarios[event.fraud_scenario] += 1
        yield event


def _report(result: PumpResult, scenarios: Counter[int], destinations: list[str], failures: list[str]) -> int:
    rate = (result.transactions + result.labels) / max(result.elapsed_s, 1e-9)
    print(
        f"sent {result.transactions:,} transactions and {result.labels:,} labels "
        f"in {result.elapsed_s:,.1f} s ({rate:,.0f} msg/s)"
    )
    known = sum(scenarios.values())
    if known:
        fraud = known - scenarios[0]
        mix = ", ".join(f"{scenario}: {scenarios[scenario]:,}" for scenario in sorted(scenarios) if scenario)
        print(f"  fraud: {fraud:,} of {known:,} ({100 * fraud / known:.3f}%)" + (f"; by scenario {mix}" if mix else ""))
    for destination in destinations:
        print(f"  -> {destination}")
    status = 0
    if result.rejected_rows:
        status = 1
        print(f"  {result.rejected_rows:,} rows refused and not sent:", file=sys.stderr)
        for error in result.row_errors[:_SHOWN_ROW_ERRORS]:
            print(f"    {error}", file=sys.stderr)
        if result.rejected_rows > _SHOWN_ROW_ERRORS:
            print(f"    ... and {result.rejected_rows - _SHOWN_ROW_ERRORS:,} more", file=sys.stderr)
    if failures:
        status = 1
        print(f"  {len(failures):,} messages were not delivered, e.g. {failures[0]}", file=sys.stderr)
    if result.interrupted:
        print(f"  interrupted: flushed what was sent; {result.unsent_labels:,} owed labels not sent", file=sys.stderr)
        return EXIT_INTERRUPTED
    return status
