"""How long each stage of a backtest after the Kafka read takes, this code beside an older revision.

Usage (repository root, project virtualenv; no Kafka needed)::

    python -m bench.backtest_stages --transactions 2400000 --days 60 --from 2018-05-06 --to 2018-05-31 \\
        --baseline <git revision>

It writes a synthetic history with :mod:`bench.columnar_history` (once per run, in a scratch folder),
fits a boosting model (the trainer's default kind and parameters) on the features of its first
transactions, and registers it, signed, in an embedded MLflow store in the scratch folder. Then, in a
child process each (this code, and ``--baseline``'s files exported with ``git archive``), it feeds
every record to the backtest's :class:`~backtest.history.Collector` as the Kafka reader would (three
partitions by card, batches of 20,000 records: timed as "decode", part of the read), and runs the
real :func:`~backtest.run.run_backtest` with only the Kafka read replaced by that collector, so every
stage after the read is the command's own: load the model (imports included, as in a fresh
``fraudstream backtest``), build the history from the collected columns, features, score, evaluate,
report. The children's ``backtest.json`` files must be equal (the same numbers on the same data).
Modules are compiled once into a bytecode cache in the scratch folder (``PYTHONPYCACHEPREFIX``, even
where ``PYTHONDONTWRITEBYTECODE`` is set), as an installed package has them, and a warm-up child per
revision compiles what loading a model imports, so "load models" is not mostly compiling.

Rates count transactions over build + features + score (the stages after the read that the
backtest's own rate counts) per replayed transaction (range and look-back) and per transaction in
range, and the read time that would remain for 100,000 transactions per second end to end (per
replayed and per in-range transaction). CPU seconds are the whole backtest's (all stages, all
threads): less sensitive to a busy machine than the wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StageTimes", "main"]

_REPO = Path(__file__).resolve().parents[1]
_TARGET = 100_000
_BATCH = 20_000
_PARTITIONS = 3
_FIT_ROWS = 300_000
_MODEL = "fraud"


def _prepare(scratch: Path, transactions: int, days: int) -> None:
    """Write the history's files and register a model fitted on its first transactions."""
    from bench.columnar_history import write

    began = time.perf_counter()
    labels = write(transactions, days, str(scratch / "history"))
    print(f"history: {transactions:,} transactions, {labels:,} labels ({time.perf_counter() - began:.0f} s)")
    began = time.perf_counter()
    _register(scratch)
    print(f"model: registered ({time.perf_counter() - began:.0f} s)", flush=True)


def _register(scratch: Path) -> None:
    from datetime import UTC, datetime

    import numpy as np

    from fraudcore.columnar.decoding import decode_transactions
    from fraudcore.features.codes import factorize
    from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC
    from fraudcore.features.offline import NO_FRAUD, offline_feature_matrix
    from fraudcore.mlflow_store import connect
    from fraudcore.model_kind import ModelKind
    from fraudcore.models import publish, set_alias, signing_key
    from fraudcore.settings import Settings
    from trainer.fitting import fit_bundle

    with (scratch / "history.tx").open("rb") as lines:
        values = [line.rstrip(b"\n").split(b"\t", 1)[1] for _, line in zip(range(_FIT_ROWS), lines, strict=False)]
    columns, _ = decode_transactions(values, now=datetime.now(UTC))
    times = columns.event_time_ms
    fraud = np.asarray(columns.scenario) > 0
    matrix = offline_feature_matrix(
        times,
        columns.amount_cents,
        factorize(columns.customer_id.to_pylist()),
        factorize(columns.terminal_id.to_pylist()),
        np.where(fraud, times + 7 * DAY_MS, NO_FRAUD),
        DEFAULT_SPEC,
    )
    bundle = fit_bundle(matrix, fraud, kind=ModelKind.BOOSTING, seed=0)
    settings = Settings()
    client = connect(settings)
    version = publish(client, settings, bundle, _MODEL, signing_key=signing_key(settings))
    set_alias(client, _MODEL, "champion", version)


_CHILD = r"""
import cProfile, json, os, resource, sys, time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

scratch, start, end, profile = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
batch, partitions, output = int(sys.argv[5]), int(sys.argv[6]), Path(sys.argv[7])

import backtest.run as run
from backtest.history import Collector
from backtest.models import ModelRef
from backtest.progress import Progress
from backtest.timerange import TimeRange, parse_moment
from fraudcore.features.definition import DEFAULT_SPEC
from fraudcore.settings import Settings


@dataclass(frozen=True)
class Record:
    offset: int
    value: bytes


def records(path):
    by_partition = [[] for _ in range(partitions)]
    with path.open("rb") as lines:
        for line in lines:
            key, value = line.rstrip(b"\n").split(b"\t", 1)
            chosen = by_partition[int(key) % partitions]
            chosen.append(Record(len(chosen), value))
    return by_partition


time_range = TimeRange.between(parse_moment(start), parse_moment(end))
config = run.BacktestConfig(time_range, (ModelRef("fraud", version="1"),), output)
if batch == 0:  # warming up: import and compile what loading a model does, then stop
    run._load(config, Settings())
    raise SystemExit(0)
transactions, labels = records(scratch / "history.tx"), records(scratch / "history.labels")
collector = Collector(time_range.replay_from_ms(DEFAULT_SPEC), time_range.end_ms, datetime.now(UTC))
began = time.perf_counter()
for add, topic in ((collector.add_transactions, transactions), (collector.add_labels, labels)):
    for partition, items in enumerate(topic):
        for at in range(0, len(items), batch):
            part = items[at : at + batch]
            add(partition, [record.value for record in part], [record.offset for record in part])
decode_s = time.perf_counter() - began
del transactions, labels


def collected(config, settings, topics, progress):
    return collector.history(), collector.stats, []


run._read = collected  # the only change: the history comes from the collector, not from Kafka
profiler = cProfile.Profile(time.process_time) if profile else None  # CPU time: the machine may be busy
if profiler is not None:
    profiler.enable()
cpu = time.process_time()
outcome = run.run_backtest(config, Settings(), Progress(quiet=True))
cpu = time.process_time() - cpu
if profiler is not None:
    profiler.disable()
    profiler.dump_stats(profile)
rows = outcome.document["rows"]
print(json.dumps({
    "decode": decode_s,
    "seconds": outcome.info.seconds,
    "cpu": cpu,
    "replayed": rows["replayed"],
    "in_range": rows["in_range"],
    "json": str(outcome.json_path),
    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
}))
"""


@dataclass(frozen=True)
class StageTimes:
    """One child's backtest: wall seconds per stage as the backtest timed them, and more."""

    code: str
    decode_s: float
    """Feeding the collector (decoding): part of the read, not of the stages measured here."""
    seconds: dict[str, float]
    cpu_s: float
    """CPU seconds of the whole backtest (every stage, every thread)."""
    replayed: int
    in_range: int
    json_path: Path
    max_rss_mb: int

    @property
    def counted_s(self) -> float:
        """Build history + features + score: the stages after the read that the backtest's rate counts."""
        return sum(self.seconds.get(name, 0.0) for name in ("read", "replay", "score"))

    def line(self) -> str:
        """A Markdown table row."""
        stages = " | ".join(f"{self.seconds.get(name, 0.0):.1f}" for name in _STAGES)
        counted = self.counted_s
        budget = f"{self.replayed / _TARGET - counted:.1f} / {self.in_range / _TARGET - counted:.1f}"
        return (
            f"| {self.code} | {self.decode_s:.1f} | {stages} | {counted:.1f} | {self.replayed / counted:,.0f} | "
            f"{self.in_range / counted:,.0f} | {budget} | {self.cpu_s:.1f} | {self.max_rss_mb:,} |"
        )


_STAGES = ("load models", "read", "replay", "score", "evaluate", "report")
_HEADER = (
    "| code | decode s | load models s | build history s | features s | score s | evaluate s | report s "
    "| build + features + score s | replayed/s | in range/s | read budget at 100k/s, replayed / in range s "
    "| CPU s | max RSS MB |\n|---|" + "---:|" * 14
)


def _child(source: Path, scratch: Path, start: str, end: str, *, batch: int, profile: str = "") -> str:
    """Run the child script on ``source``'s code; its last line of output."""
    output = scratch / f"report-{source.name}"
    arguments = [str(scratch), start, end, profile, str(batch), str(_PARTITIONS), str(output)]
    # compiled modules cached in the scratch folder, as an installed package has them (not in the tree)
    bytecode = {"PYTHONPATH": str(source), "PYTHONPYCACHEPREFIX": str(scratch / "bytecode")}
    done = subprocess.run(  # noqa: S603 - the running interpreter
        [sys.executable, "-c", _CHILD, *arguments],
        env={name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"} | bytecode,
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the backtest of {source} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return (done.stdout.strip().splitlines() or [""])[-1]


def _measure(code: str, source: Path, scratch: Path, start: str, end: str, profile: str) -> StageTimes:
    result = json.loads(_child(source, scratch, start, end, batch=_BATCH, profile=profile))
    return StageTimes(
        code=code,
        decode_s=float(result["decode"]),
        seconds={str(name): float(value) for name, value in result["seconds"].items()},
        cpu_s=float(result["cpu"]),
        replayed=int(result["replayed"]),
        in_range=int(result["in_range"]),
        json_path=Path(result["json"]),
        max_rss_mb=int(result["max_rss_mb"]),
    )


def main(argv: list[str] | None = None) -> int:
    """Prepare the data and the model, run each revision's backtest stages, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.backtest_stages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=2_400_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--from", dest="start", default="2018-05-06")
    parser.add_argument("--to", dest="end", default="2018-05-31")
    parser.add_argument("--baseline", metavar="REVISION", help="git revision to compare with")
    parser.add_argument("--profile", metavar="PREFIX", help="write each child's cProfile stats to PREFIX-<code>.prof")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each revision, alternating (1)")
    parser.add_argument("--keep", metavar="DIR", type=Path, help="scratch folder to use and keep (reused if prepared)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-backtest-") as temporary:
        scratch = (args.keep or Path(temporary)).resolve()
        scratch.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("FRAUD_DATA_DIR", str(scratch / "data"))
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if not (scratch / "history.labels").exists() or not (scratch / "data").exists():
            _prepare(scratch, args.transactions, args.days)
        sources = [("this code", _REPO)]
        if args.baseline:
            from bench.produce_files import _export

            sources.insert(0, (f"baseline {args.baseline}", _export(args.baseline, scratch)))
        print("\n" + _HEADER, flush=True)
        for _, source in sources:  # compile and cache the modules a backtest imports
            _child(source, scratch, args.start, args.end, batch=0)
        documents = set()
        for _ in range(args.repeat):
            for code, source in sources:
                name = "this" if source == _REPO else "baseline"
                profile = str(Path(f"{args.profile}-{name}.prof").resolve()) if args.profile else ""
                result = _measure(code, source, scratch, args.start, args.end, profile)
                print(result.line(), f"load average {os.getloadavg()[0]:.1f}", flush=True)
                documents.add(result.json_path.read_bytes())
        print(f"\nreplayed {result.replayed:,}, in range {result.in_range:,}")
        print("backtest.json: " + ("the same in every run" if len(documents) == 1 else "DIFFERENT"))
        if len(documents) > 1:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
