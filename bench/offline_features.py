"""How fast the offline features are computed, and with how much memory: the vectorized columns
(``fraudcore.features.offline``) on millions of rows, and ``offline_features`` on fact objects, this
code beside an older revision.

Usage (repository root, project virtualenv)::

    python -m bench.offline_features --rows 1000000 10000000 --customers 5000 500000 --baseline <git revision>

Synthetic columns shaped like the simulator's (customers paying about twice a day, each at a few dozen
terminals among ``--terminals``, ~0.8% fraud labelled 0 to 14 days later), in event-time order. Each
measurement runs in a child process of its own: ``offline_feature_matrix`` on every ``--rows`` x
``--customers``, twice (the first run also pays for memory touched for the first time), reporting
wall and CPU seconds, rows/s and the peak memory the call allocated (traced by ``tracemalloc``:
output and temporaries, not the input columns), and the child's peak RSS (with the columns); then
``offline_features`` on ``--objects-rows`` fact objects (the adapter the trainer and backtest call),
for this code and for ``--baseline`` (its files exported with ``git archive``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.produce_files import _export
from fraudcore.features.codes import factorize
from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC
from fraudcore.features.offline import NO_FRAUD, offline_feature_matrix

__all__ = ["Columns", "main", "synthetic_columns"]

_REPO = Path(__file__).resolve().parents[1]
_START_MS = 1_522_540_800_000  # 2018-04-01T00:00:00Z
_MB = 1 << 20

_OBJECTS_SCRIPT = """
import json, sys, time
import numpy as np
from fraudcore.features.definition import LabelFacts, TxFacts
from fraudcore.features.memory import offline_features
data = np.load(sys.argv[1])
times, cents, customers, terminals = (data[k].tolist() for k in ("times", "cents", "customers", "terminals"))
fraud = data["fraud"].tolist()
rows = enumerate(zip(times, cents, customers, terminals))
txs = [TxFacts(f"tx{i}", f"c{c}", f"t{m}", t, a) for i, (t, a, c, m) in rows]
labels = [LabelFacts(f"tx{i}", True, f) for i, f in enumerate(fraud) if f != int(np.iinfo(np.int64).max)]
began, cpu = time.perf_counter(), time.process_time()
matrix = offline_features(txs, labels)
seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
print(json.dumps({"rows": len(txs), "seconds": seconds, "cpu_seconds": cpu, "shape": list(matrix.shape)}))
"""


@dataclass(frozen=True)
class Columns:
    """A synthetic history as the columns :func:`offline_feature_matrix` takes."""

    times: npt.NDArray[np.int64]
    cents: npt.NDArray[np.int64]
    customers: npt.NDArray[np.int64]
    terminals: npt.NDArray[np.int64]
    fraud: npt.NDArray[np.int64]
    """``labeled_at`` of the fraud label, or ``NO_FRAUD``."""


def synthetic_columns(rows: int, customers: int, terminals: int = 10_000, seed: int = 0) -> Columns:
    """``rows`` transactions of ``customers`` cards (about two a day each), in event-time order."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0, 4, customers)
    days = max(1, int(np.ceil(rows / rate.sum())))
    customer = rng.choice(customers, size=rows, p=rate / rate.sum())
    times = np.sort(_START_MS + rng.integers(0, days * DAY_MS, size=rows))
    nearby = rng.integers(0, terminals, size=(customers, 40), dtype=np.int32)
    terminal = nearby[customer, rng.integers(0, 40, size=rows)].astype(np.int64)
    mean_cents = rng.uniform(500, 10_000, customers)[customer]
    cents = np.abs(rng.normal(mean_cents, mean_cents / 2)).astype(np.int64)
    fraud = np.where(rng.random(rows) < 0.008, times + rng.integers(0, 14 * DAY_MS, size=rows), NO_FRAUD)
    return Columns(times, cents, customer.astype(np.int64), terminal, fraud)


def _measure_columns(rows: int, customers: int, terminals: int, dtype: str) -> dict[str, float]:
    """Two runs of :func:`offline_feature_matrix` in this process: the first one also pays for memory
    the process (and, on a virtual machine, the guest) touches for the first time."""
    columns = synthetic_columns(rows, customers, terminals)
    result: dict[str, float] = {"days": int((columns.times[-1] - columns.times[0]) // DAY_MS) + 1}
    for run in ("first", "second"):
        tracemalloc.start()
        began, cpu = time.perf_counter(), time.process_time()
        matrix = offline_feature_matrix(
            columns.times,
            columns.cents,
            columns.customers,
            columns.terminals,
            columns.fraud,
            DEFAULT_SPEC,
            np.float32 if dtype == "float32" else np.float64,
        )
        result[f"{run}_seconds"] = time.perf_counter() - began
        result[f"{run}_cpu_seconds"] = time.process_time() - cpu
        result["peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        result["output_bytes"] = matrix.nbytes
        del matrix
    result["max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def _measure_factorize(count: int, distinct: int) -> None:
    """Print seconds (wall and CPU) of :func:`factorize` on ``count`` ids like ``c123`` (``distinct``
    different ones) held in each form the trainer may have, and of two ways it could be done without it."""
    import pyarrow as pa

    rng = np.random.default_rng(0)
    numbers = rng.integers(0, distinct, size=count)
    text = np.char.add("c", numbers.astype(str))
    forms: list[tuple[str, Callable[[], object]]] = [
        ("`factorize`, Arrow string array", lambda: factorize(arrow)),
        ("`factorize`, numpy str array (`<U`)", lambda: factorize(text)),
        ("`factorize`, list of str", lambda: factorize(strings)),
        ("`np.unique(..., return_inverse=True)`, numpy str array", lambda: np.unique(text, return_inverse=True)),
        ("dict `setdefault`, list of str", lambda: _dict_codes(strings)),
    ]
    arrow, strings = pa.array(text), text.tolist()
    print(f"\nfactorize: {count:,} ids, {distinct:,} distinct")
    print("| how | seconds | CPU seconds | ids/s |")
    print("|---|---:|---:|---:|")
    for name, run in forms:
        began, cpu = time.perf_counter(), time.process_time()
        run()
        seconds = time.perf_counter() - began
        print(f"| {name} | {seconds:.2f} | {time.process_time() - cpu:.2f} | {count / seconds:,.0f} |", flush=True)


def _dict_codes(ids: list[str]) -> npt.NDArray[np.int64]:
    codes: dict[str, int] = {}
    return np.fromiter((codes.setdefault(i, len(codes)) for i in ids), dtype=np.int64, count=len(ids))


def _child(arguments: list[str], *, source: Path = _REPO) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 - the running interpreter
        [sys.executable, *arguments],
        env=os.environ | {"PYTHONPATH": str(source)},
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments[:3])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print the tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.offline_features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--customers", type=int, nargs="+", default=[5_000, 500_000])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--objects-rows", type=int, default=100_000, help="rows for offline_features (0: skip)")
    parser.add_argument("--baseline", metavar="REVISION", help="git revision to compare offline_features with")
    parser.add_argument("--factorize", type=int, default=0, metavar="IDS", help="also time factorize on IDS ids")
    parser.add_argument("--one", nargs=3, type=int, metavar=("ROWS", "CUSTOMERS", "TERMINALS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        rows, customers, terminals = args.one
        print(json.dumps(_measure_columns(rows, customers, terminals, args.dtype)))
        return 0

    print(f"offline_feature_matrix ({args.dtype}, {args.terminals:,} terminals, child process each)")
    print(
        "| rows | customers | days | first run: s (CPU s) | second run: s (CPU s) | rows/s (second, wall) "
        "| rows/s (second, CPU) | peak allocated | bytes/row | output bytes/row | max RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        for customers in args.customers:
            one = ["--one", str(rows), str(customers), str(args.terminals), "--dtype", args.dtype]
            r = _child(["-m", "bench.offline_features", *one])
            first, second = r["first_seconds"], r["second_seconds"]
            runs = f"{first:.2f} ({r['first_cpu_seconds']:.2f}) | {second:.2f} ({r['second_cpu_seconds']:.2f})"
            rates = f"{rows / second:,.0f} | {rows / r['second_cpu_seconds']:,.0f}"
            memory = f"{r['peak_bytes'] / _MB:,.0f} MB | {r['peak_bytes'] / rows:.0f} | {r['output_bytes'] / rows:.0f}"
            rss = f"{r['max_rss_bytes'] / _MB:,.0f} MB"
            print(f"| {rows:,} | {customers:,} | {r['days']:.0f} | {runs} | {rates} | {memory} | {rss} |", flush=True)
    if args.factorize:
        _measure_factorize(args.factorize, max(args.customers))
    if not args.objects_rows:
        return 0
    print(f"\noffline_features on fact objects ({args.customers[0]:,} customers)")
    print("| code | rows | seconds (CPU s) | rows/s (wall) | rows/s (CPU) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="fraudstream-offline-bench-") as scratch:
        data = Path(scratch) / "columns.npz"
        columns = synthetic_columns(args.objects_rows, args.customers[0], args.terminals)
        np.savez(data, **{name: getattr(columns, name) for name in Columns.__dataclass_fields__})
        codes = [("this code", _REPO)]
        if args.baseline:
            codes.insert(0, (f"baseline `{args.baseline}`", _export(args.baseline, Path(scratch))))
        for code, source in codes:
            r = _child(["-c", _OBJECTS_SCRIPT, str(data)], source=source)
            seconds, cpu = r["seconds"], r["cpu_seconds"]
            rates = f"{r['rows'] / seconds:,.0f} | {r['rows'] / cpu:,.0f}"
            print(f"| {code} | {r['rows']:,.0f} | {seconds:.2f} ({cpu:.2f}) | {rates} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
