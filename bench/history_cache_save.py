"""Peak memory a trainer history cache save adds, and the time a load takes, on a synthetic history
of random UUID ids.

Run: ``python -m bench.history_cache_save ROWS [ROWS ...]`` (Linux: it resets and reads the
process's peak resident set through ``/proc/self``)."""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa

from fraudcore.features.definition import DEFAULT_SPEC
from trainer.history import COUNTERS, NEVER, HistoryState
from trainer.history_cache import CacheIdentity, CacheKey, HistoryCache

_DAY_MS = 86_400_000


def synthetic_state(rows: int, seed: int = 7) -> HistoryState:
    """A history state of ``rows`` transactions over 60 days, in arrival (not time) order."""
    rng = np.random.default_rng(seed)
    ids = pa.array([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(rows)], type=pa.string())
    customers = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, max(1, rows // 20), rows), type=pa.int32()),
        pa.array([f"c{i}" for i in range(max(1, rows // 20))]),
    )
    terminals = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, max(1, rows // 200), rows), type=pa.int32()),
        pa.array([f"t{i}" for i in range(max(1, rows // 200))]),
    )
    event_time = 1_800_000_000_000 + rng.integers(0, 60 * _DAY_MS, rows)
    labelled = rng.random(rows) < 0.5
    return HistoryState(
        transaction_id=ids,
        customer_id=customers,
        terminal_id=terminals,
        event_time_ms=event_time,
        amount_cents=rng.integers(100, 100_000, rows),
        scenarios=np.where(rng.random(rows) < 0.01, 1, -1).astype(np.int8),
        labeled_at_ms=np.where(labelled, event_time + _DAY_MS, NEVER),
        is_fraud=labelled & (rng.random(rows) < 0.01),
        held_labels=(),
        waiting_labels=(),
        clock_sample=(int(event_time.max()),),
        counters=dict.fromkeys(COUNTERS, 0),
    )


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def measure(rows: int) -> tuple[float, float, float]:
    """Peak resident MiB a save adds above the resident set before it, its seconds, and the load's."""
    state = synthetic_state(rows)
    identity = CacheIdentity("transactions", "labels", DEFAULT_SPEC.digest, 60)
    with tempfile.TemporaryDirectory() as folder:
        cache = HistoryCache(Path(folder), identity, CacheKey(b"k" * 32, "bench"))
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
        started = time.perf_counter()
        cache.save(state, {("transactions", 0): rows})
        seconds = time.perf_counter() - started
        peak = _status_kib("VmHWM")
        del state
        started = time.perf_counter()
        cache.load(DEFAULT_SPEC, 1_000)
        loading = time.perf_counter() - started
    return (peak - before) / 1024, seconds, loading


def main(argv: list[str]) -> None:
    for rows in (int(arg) for arg in argv):
        added, saving, loading = measure(rows)
        per_row = added * 2**20 / rows
        print(f"{rows:>12,} rows: save adds {added:,.0f} MiB peak RSS ({per_row:.0f} B/row), {saving:.1f} s;", end=" ")
        print(f"load {loading:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
