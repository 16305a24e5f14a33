"""Offline features, vectorized: the feature matrix of a whole history at once, from integer columns.

The semantics of :mod:`fraudcore.features.definition` (windows of whole event-time tiles), as if the
rows were replayed in event-time order (ties in input order, labels at their ``labeled_at`` before
transactions at the same time), computed with numpy sorts, binary searches and prefix sums:

* Rows sorted by (customer, event time, input order): in that order every earlier tile of a window is
  fully recorded, and the rows of the current tile before a row are exactly those recorded before it.
  So a customer window's count is the row's position minus the position where the window's first tile
  begins in its customer's run (a binary search), and its cents a difference of prefix sums.
* Terminals alike; with a label delay ``D > 0`` the window ends before the current tile, so both of its
  ends are binary searches.
* A fraud-labelled transaction of tile ``u`` counts in window ``w`` of a later transaction of its
  terminal at ``t`` for ``t`` in its fraud interval (from its fraud label's ``labeled_at`` until a later
  label replaces it) intersected with ``[(u + P*D) * tile_ms, (u + P*(D+w)) * tile_ms)`` (``P`` tiles a
  day): each interval adds 1 to a range of positions of the terminal's run, summed by a prefix sum.

Memory: the output plus about nine 8-byte columns per row while it is built (sorted order and its
inverse, keys, prefix sums, one pair of output columns in sorted order); the windows are computed in
chunks of rows so that other temporaries stay small and in the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, overload

import numpy as np
import numpy.typing as npt

from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, FeatureSpec

__all__ = ["NO_FRAUD", "FraudIntervals", "fraud_intervals", "offline_feature_matrix"]

NO_FRAUD: Final = int(np.iinfo(np.int64).max)
"""``fraud_labeled_at_ms`` of a row that never counts as fraud (no fraud label wins for it)."""

_HOUR_MS: Final = 3_600_000
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday = 0)
_TIME_LIMIT: Final = 1 << 61
"""Event times must be within ``(-2**61, 2**61)`` ms (about 73 million years), so no sum overflows."""
_KEY_LIMIT: Final = 1 << 62
_CHUNK: Final = 1 << 16

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.floating]


@dataclass(frozen=True)
class FraudIntervals:
    """When transactions count as fraud: row ``rows[k]`` counts for a transaction scored at ``t`` with
    ``start_ms[k] <= t < end_ms[k]`` (``end_ms`` :data:`NO_FRAUD`: for ever). A row may have several
    intervals (fraud, corrected to genuine, fraud again); they must not overlap."""

    rows: Int64Array
    start_ms: Int64Array
    end_ms: Int64Array


def fraud_intervals(
    label_row: npt.ArrayLike, label_is_fraud: npt.ArrayLike, labeled_at_ms: npt.ArrayLike, event_time_ms: npt.ArrayLike
) -> FraudIntervals:
    """The fraud intervals of transactions from their labels, as the replay applies them: at each
    ``labeled_at`` the latest label wins (fraud over genuine at equal ``labeled_at``), so a row counts
    as fraud from a winning fraud label's ``labeled_at`` until the next later label of it. A label with
    ``label_row`` -1 (its transaction is not among the rows) or dated before its transaction's
    ``event_time_ms`` never counts."""
    times = _column(event_time_ms, "event_time_ms")
    rows = _column(label_row, "label_row")
    at = _column(labeled_at_ms, "labeled_at_ms")
    fraud = np.asarray(label_is_fraud, dtype=np.bool_)
    if not rows.shape == at.shape == fraud.shape:
        raise ValueError(f"label columns of different lengths: {rows.shape}, {fraud.shape}, {at.shape}")
    if rows.size and (rows.min() < -1 or rows.max() >= len(times)):
        raise ValueError(f"label_row must be -1 or a row index below {len(times)}")
    valid = rows >= 0
    valid[valid] = at[valid] >= times[rows[valid]]
    rows, at, fraud = rows[valid], at[valid], fraud[valid]
    order = np.lexsort((fraud, at, rows))
    rows, at, fraud = rows[order], at[order], fraud[order]
    # at each (row, labeled_at) the last one in this order wins: fraud if any
    last = np.ones(len(rows), dtype=np.bool_)
    last[:-1] = (rows[1:] != rows[:-1]) | (at[1:] != at[:-1])
    rows, at, fraud = rows[last], at[last], fraud[last]
    end = np.full(len(rows), NO_FRAUD, dtype=np.int64)
    superseded = rows[1:] == rows[:-1]
    end[:-1][superseded] = at[1:][superseded]
    return FraudIntervals(rows[fraud], at[fraud], end[fraud])


@overload  # float32 and float64 are distinct types; mypy sees their type objects overlap
def offline_feature_matrix(  # type: ignore[overload-overlap]
    event_time_ms: npt.ArrayLike,
    amount_cents: npt.ArrayLike,
    customer_code: npt.ArrayLike,
    terminal_code: npt.ArrayLike,
    fraud_labeled_at_ms: npt.ArrayLike | FraudIntervals,
    spec: FeatureSpec = ...,
    dtype: type[np.float64] = ...,
    *,
    rows: npt.ArrayLike | None = ...,
) -> npt.NDArray[np.float64]: ...


@overload
def offline_feature_matrix(
    event_time_ms: npt.ArrayLike,
    amount_cents: npt.ArrayLike,
    customer_code: npt.ArrayLike,
    terminal_code: npt.ArrayLike,
    fraud_labeled_at_ms: npt.ArrayLike | FraudIntervals,
    spec: FeatureSpec,
    dtype: type[np.float32],
    *,
    rows: npt.ArrayLike | None = ...,
) -> npt.NDArray[np.float32]: ...


def offline_feature_matrix(
    event_time_ms: npt.ArrayLike,
    amount_cents: npt.ArrayLike,
    customer_code: npt.ArrayLike,
    terminal_code: npt.ArrayLike,
    fraud_labeled_at_ms: npt.ArrayLike | FraudIntervals,
    spec: FeatureSpec = DEFAULT_SPEC,
    dtype: type[np.float64] | type[np.float32] = np.float64,
    *,
    rows: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64] | npt.NDArray[np.float32]:
    """The feature matrix, shape ``(n, len(spec.feature_names))``, one row per transaction in input order.

    Integer columns of ``n`` rows: event time (epoch ms), amount (cents), customer and terminal codes
    (any integers, equal id <=> equal code). ``fraud_labeled_at_ms``: per row, the ``labeled_at`` of
    its winning label when that label is fraud and not before the transaction, else :data:`NO_FRAUD`;
    or :class:`FraudIntervals` (:func:`fraud_intervals`) for labels that replace each other over time.
    ``dtype``: float64, or float32 to halve the output's memory (the float64 values rounded).
    ``rows``: the input rows whose features are wanted (output row ``i`` is input row ``rows[i]``;
    every row by default). The other rows still count in the windows; only the per-row work shrinks.
    """
    times = _column(event_time_ms, "event_time_ms")
    n = len(times)
    cents = _column(amount_cents, "amount_cents", n)
    customers = _column(customer_code, "customer_code", n)
    terminals = _column(terminal_code, "terminal_code", n)
    if isinstance(fraud_labeled_at_ms, FraudIntervals):
        intervals = _checked(fraud_labeled_at_ms, times)
    else:
        intervals = _intervals_of(_column(fraud_labeled_at_ms, "fraud_labeled_at_ms", n), times)
    if n and (times.min() <= -_TIME_LIMIT or times.max() >= _TIME_LIMIT):
        raise ValueError("event_time_ms must be epoch milliseconds within (-2**61, 2**61)")

    if dtype not in (np.float64, np.float32):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}")
    wanted = None if rows is None else _wanted(rows, n)
    out: FloatArray = np.empty((n if wanted is None else len(wanted), len(spec.feature_names)), dtype=dtype)
    if len(out) == 0:
        return out
    for at in _chunks(len(out)):
        source = at if wanted is None else wanted[at]
        chunk = times[source]
        out[at, 0] = cents[source] / 100
        out[at, 1] = (chunk // DAY_MS + _EPOCH_WEEKDAY) % 7 >= 5
        out[at, 2] = (chunk // _HOUR_MS) % 24 <= spec.night_last_hour
    time_order = np.argsort(times, kind="stable")
    _customer_columns(out, spec, _Runs(customers, times, time_order, spec, wanted), cents)
    _terminal_columns(out, spec, _Runs(terminals, times, time_order, spec, wanted), times, intervals)
    return out


class _Runs:
    """The rows sorted by (code, event time, input order), one run per code, with a key per sorted
    position that orders ``(run, time)``, to binary search a run for a time."""

    def __init__(
        self, codes: Int64Array, times: Int64Array, time_order: Int64Array, spec: FeatureSpec, wanted: Int64Array | None
    ) -> None:
        n = len(codes)
        self.order = time_order[_stable_argsort(codes[time_order])]
        """The input row at each sorted position."""
        self.position = np.empty(n, dtype=np.int64)
        """The sorted position of each input row."""
        self.position[self.order] = np.arange(n)
        sorted_codes = codes[self.order]
        self.base = np.zeros(n, dtype=np.int64)
        """The key of each sorted position's run: ``run * scale``."""
        np.cumsum(sorted_codes[1:] != sorted_codes[:-1], out=self.base[1:])
        del sorted_codes
        sorted_times = times[self.order]
        self._origin, self._scale = int(times.min()), int(times.max()) - int(times.min()) + 2
        self._distinct: Int64Array | None = None
        if (int(self.base[-1]) + 1) * self._scale >= _KEY_LIMIT:  # a very long span: rank times instead
            self._distinct = np.unique(times)
            self._scale = len(self._distinct) + 1
        self.base *= self._scale
        self._keys = self.key(self.base, sorted_times)
        self._tile_ms = spec.tile_ms
        sorted_times -= sorted_times % spec.tile_ms  # now the start of each sorted position's tile
        self._tile_keys: Int64Array | None = None
        """The key of each sorted position's tile start (with times as the scale)."""
        self._tile_start = sorted_times
        """The start of each sorted position's tile (with ranks of times as the scale)."""
        if self._distinct is None:
            self._tile_keys = self.key(self.base, sorted_times)
            self._tile_start = np.zeros(0, dtype=np.int64)
        del sorted_times
        self.targets: Int64Array | None = None
        """The sorted positions of the wanted rows, ascending (None: every position)."""
        self._gather = self.position
        """Per output row, its index among the targets."""
        if wanted is not None:
            wanted_at = self.position[wanted]
            order = np.argsort(wanted_at, kind="stable")
            self.targets = wanted_at[order]
            self._gather = np.empty(len(order), dtype=np.int64)
            self._gather[order] = np.arange(len(order))

    @property
    def target_count(self) -> int:
        """How many sorted positions the output needs."""
        return len(self._gather)

    def chunks(self) -> list[tuple[slice, slice | Int64Array]]:
        """The targets in chunks: ``(indices among the targets, their sorted positions)``."""
        if self.targets is None:
            return [(at, at) for at in _chunks(self.target_count)]
        return [(at, self.targets[at]) for at in _chunks(self.target_count)]

    def key(self, base: Int64Array, time_ms: Int64Array) -> Int64Array:
        """The key of ``time_ms`` in the runs of ``base``, clipped to the run."""
        if self._distinct is None:
            key = time_ms - self._origin
            np.clip(key, 0, self._scale - 1, out=key)
        else:
            key = np.searchsorted(self._distinct, time_ms)
        key += base
        return key

    def first_at_or_after(self, key: Int64Array) -> Int64Array:
        """Per key, the first sorted position at or after it (fastest with ascending keys)."""
        return np.searchsorted(self._keys, key)

    def window_start(self, tiles_back: int, at: slice | Int64Array) -> Int64Array:
        """For the ascending sorted positions ``at``, the first position of their run whose tile starts
        at or after the start of their own tile minus ``tiles_back`` tiles."""
        if self._tile_keys is None:
            query = self.key(self.base[at], self._tile_start[at] - tiles_back * self._tile_ms)
        else:
            query = self._tile_keys[at] - tiles_back * self._tile_ms
            np.maximum(query, self.base[at], out=query)  # clipped to the run
        # ascending queries: search only the stretch of keys between the first's and the last's
        # answers, which stays in the cache (a search of all keys misses it at every step)
        low = int(np.searchsorted(self._keys, query[0]))
        high = int(np.searchsorted(self._keys[low:], query[-1])) + low + 1
        return np.searchsorted(self._keys[low:high], query) + low

    def to_input_order(self, sorted_pairs: npt.NDArray[np.float64], out: FloatArray, column: int) -> None:
        """Write the two values of each target into ``out[:, column : column + 2]`` in output row
        order (a gather by chunks, both at once: far faster than scattering into the output)."""
        for at in _chunks(len(self._gather)):
            out[at, column : column + 2] = np.take(sorted_pairs, self._gather[at], axis=0)


def _customer_columns(out: FloatArray, spec: FeatureSpec, runs: _Runs, cents: Int64Array) -> None:
    """Fill the customer windows' count and mean amount columns."""
    n, per_day = len(cents), spec.tiles_per_day
    cumulative = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cents[runs.order], out=cumulative[1:])
    pairs = np.empty((runs.target_count, 2), dtype=np.float64)  # count, mean amount
    for k, days in enumerate(spec.customer_windows_days):
        for at, positions in runs.chunks():
            start = runs.window_start(per_day * days - 1, positions)  # the row and those before it since then
            after = _after(positions)
            count = after - start
            pairs[at, 0] = count
            pairs[at, 1] = (cumulative[after] - cumulative[start]) / count / 100
        runs.to_input_order(pairs, out, 3 + 2 * k)


def _terminal_columns(
    out: FloatArray, spec: FeatureSpec, runs: _Runs, times: Int64Array, intervals: FraudIntervals
) -> None:
    """Fill the terminal windows' count and risk columns."""
    per_day, delay, tile_ms = spec.tiles_per_day, spec.label_delay_days, spec.tile_ms
    at = runs.position[intervals.rows]  # the fraud rows' sorted positions
    order = np.argsort(at, kind="stable")  # binary searches are fastest with ascending keys
    at, start_ms, end_ms = at[order], intervals.start_ms[order], intervals.end_ms[order]
    fraud_base, fraud_tile_start = runs.base[at], times[intervals.rows[order]] // tile_ms * tile_ms
    chunks = runs.chunks()
    pairs = np.empty((runs.target_count, 2), dtype=np.float64)  # count, risk
    # with a delay the window ends before the current tile, all recorded; else at the row itself
    end = np.empty(runs.target_count, dtype=np.int64)
    for chunk, positions in chunks:
        end[chunk] = runs.window_start(per_day * delay - 1, positions) if delay else _after(positions)
    first = len(spec.customer_windows_days) * 2 + 3
    for k, days in enumerate(spec.terminal_windows_days):
        # scored at t in [lo, hi), a row of this terminal counts the fraud; at the fraud's own time
        # only the rows recorded after it: from its own position on
        lo = np.maximum(start_ms, fraud_tile_start + per_day * delay * tile_ms)
        hi = np.minimum(end_ms, fraud_tile_start + per_day * (delay + days) * tile_ms)
        live = lo < hi
        begins = np.sort(np.maximum(runs.first_at_or_after(runs.key(fraud_base[live], lo[live])), at[live]))
        ends = np.sort(runs.first_at_or_after(runs.key(fraud_base[live], hi[live])))
        for chunk, positions in chunks:
            count = end[chunk] - runs.window_start(per_day * (delay + days) - 1, positions)
            fraud = _at_or_before(begins, positions) - _at_or_before(ends, positions)
            pairs[chunk, 0] = count
            pairs[chunk, 1] = _ratio(fraud, count)
        runs.to_input_order(pairs, out, first + 2 * k)


def _after(positions: slice | Int64Array) -> Int64Array:
    """Each sorted position plus one: how many positions lie at or before it."""
    if isinstance(positions, slice):
        return np.arange(positions.start + 1, positions.stop + 1)
    return positions + 1


def _at_or_before(positions: Int64Array, chunk: slice | Int64Array) -> Int64Array:
    """For each position ``p`` of ``chunk`` (ascending), how many of the ascending ``positions`` are ``<= p``."""
    if not isinstance(chunk, slice):
        return np.searchsorted(positions, chunk, side="right")
    low, high = np.searchsorted(positions, [chunk.start, chunk.stop])
    inside = np.bincount(positions[low:high] - chunk.start, minlength=chunk.stop - chunk.start)
    counts: Int64Array = np.cumsum(inside) + low
    return counts


def _ratio(numerator: Int64Array, denominator: Int64Array) -> npt.NDArray[np.float64]:
    """``numerator / denominator`` as floats, 0 where the denominator is 0."""
    top = numerator.astype(np.float64)
    return np.divide(top, denominator, out=np.zeros_like(top), where=denominator > 0)


def _chunks(n: int) -> list[slice]:
    """Slices of ``n`` rows in chunks small enough that their temporaries stay in the cache."""
    return [slice(at, min(at + _CHUNK, n)) for at in range(0, n, _CHUNK)]


def _stable_argsort(codes: Int64Array) -> Int64Array:
    """A stable argsort of integer codes by 16-bit radix passes (numpy's stable sort of 16-bit
    integers is a radix sort, several times faster than sorting int64)."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    low, high = int(codes.min()), int(codes.max())
    if high - low >= 1 << 32:  # sparse codes: their ranks instead
        codes = np.unique(codes, return_inverse=True)[1].reshape(-1)
        low, high = 0, int(codes.max())
    shifted = (codes - low).astype(np.uint32)
    order = np.argsort((shifted & 0xFFFF).astype(np.uint16), kind="stable")
    if high - low >= 1 << 16:
        order = order[np.argsort((shifted[order] >> 16).astype(np.uint16), kind="stable")]
    return order.astype(np.int64, copy=False)


def _wanted(rows: npt.ArrayLike, n: int) -> Int64Array:
    """``rows`` as int64 row indices below ``n``."""
    wanted = _column(rows, "rows")
    if wanted.size and (wanted.min() < 0 or wanted.max() >= n):
        raise ValueError(f"rows must be row indices below {n}")
    return wanted


def _column(values: npt.ArrayLike, name: str, length: int | None = None) -> Int64Array:
    """``values`` as a 1-D int64 array (no copy when it is one), of ``length`` rows when given."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got {array.dtype}")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} has {len(array)} rows, event_time_ms {length}")
    return array.astype(np.int64, copy=False)


def _intervals_of(fraud_labeled_at_ms: Int64Array, times: Int64Array) -> FraudIntervals:
    """The fraud intervals of the per-row winning fraud label times."""
    if np.any(fraud_labeled_at_ms < times):
        raise ValueError("fraud_labeled_at_ms before its transaction's event time (use NO_FRAUD: it never counts)")
    rows = np.flatnonzero(fraud_labeled_at_ms != NO_FRAUD)
    return FraudIntervals(rows, fraud_labeled_at_ms[rows], np.full(len(rows), NO_FRAUD, dtype=np.int64))


def _checked(intervals: FraudIntervals, times: Int64Array) -> FraudIntervals:
    """``intervals`` as int64 columns, checked against the rows."""
    rows = _column(intervals.rows, "FraudIntervals.rows")
    start = _column(intervals.start_ms, "FraudIntervals.start_ms", len(rows))
    end = _column(intervals.end_ms, "FraudIntervals.end_ms", len(rows))
    if rows.size and (rows.min() < 0 or rows.max() >= len(times)):
        raise ValueError(f"FraudIntervals.rows must be row indices below {len(times)}")
    if np.any(start < times[rows]):
        raise ValueError("a fraud interval starts before its transaction's event time")
    return FraudIntervals(rows, start, end)
