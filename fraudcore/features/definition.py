"""The one feature definition: what each feature means, and the vector built from window counts.

Pure code, no I/O. A store (:mod:`fraudcore.features.memory` offline, :mod:`fraudcore.features.redis_store`
online) keeps the history and returns :class:`WindowCounts`; :func:`feature_matrix` turns them into
the model's input. Both stores implement the semantics below, so online and offline features are equal.

Times are integer epoch milliseconds (UTC), amounts integer cents, so both stores agree exactly.
Windows are made of whole event-time **tiles** of ``tile_minutes`` (60 by default): the tile of a
time ``t`` is ``t // tile_ms``. For a transaction at event time ``t`` in tile ``T``, a window of
``w`` days (``w * P`` tiles, ``P`` tiles a day) and label delay ``D`` days:

* **Customer window** ``w``: the customer's transactions recorded so far (this one included) whose
  tile is in ``(T - P*w, T]``; ``customer_nb_tx_<w>d`` is their number,
  ``customer_avg_amount_<w>d`` their mean amount (0 when there are none).
* **Terminal window** ``w``: the terminal's transactions recorded so far whose tile is in
  ``(T - P*(D + w), T - P*D]``; ``terminal_nb_tx_<w>d`` is their number, ``terminal_risk_<w>d`` the
  share of them whose winning label is fraud with ``labeled_at <= t`` (exact milliseconds; 0 when
  there are none). Only labels known at scoring time count; with labels arriving ``D`` days late
  this is the Fraud-Detection-Handbook's delayed terminal features, with tile-wide edges.
* ``amount`` in the major unit; ``is_weekend`` (UTC weekday Saturday or Sunday) and ``is_night``
  (UTC hour ``<= night_last_hour``, 6 as the handbook's) as 0/1.

"Recorded so far" follows arrival: recording returns the counts at that moment, batch order
included (a later transaction of the same customer in one batch sees the earlier one; one recorded
later does not count for the earlier one, even in the same tile). A transaction asked again sees
its own customer tile as it was when it was first recorded (kept with its mark for the claim
horizon), so a redelivery gets the first answer's customer counts unless earlier tiles changed.
Offline, history is replayed in event-time order, ties by input order, labels at their
``labeled_at`` before transactions at the same time.

* **Idempotent per transaction id, one content per id, within the claim horizon.** A store keeps
  each transaction's claim (its facts) for ``claim_horizon_ms`` (the allowed lateness) of event
  time behind the stream. Recording an id again with the same facts writes nothing and returns the
  counts of what is recorded then, its own customer tile taken as at its first recording. The same
  id with *other* facts is a :class:`Conflict`: nothing is written or counted for it, and the
  answer names the facts stored first (the first content wins; the caller refuses the second). A
  transaction past the claim horizon (its claim day dropped) is not recorded at all, as it may be
  a redelivery no longer recognisable: it gets the counts of what is recorded. The scorer refuses
  such transactions before (``stale_event_time``).
* **The label with the latest ``labeled_at`` wins** (at equal ``labeled_at``, fraud wins over
  genuine) among the labels a store remembers: a chargeback after an earlier "genuine" label
  counts, an older label arriving late after a recorded one changes nothing, an exact redelivery
  is a no-op (:class:`LabelOutcome`). Arrival order matters in one case: a store keeps a **label
  record** only for a fraud label, and for a genuine label that replaces a recorded fraud one (it
  takes the transaction out of its terminal's frauds), so a genuine label over no fraud record
  stores nothing and an older fraud label arriving after it counts (offline, where labels are
  replayed by ``labeled_at``, the genuine one wins). A label joins its transaction's claim while
  it exists (the claim's terminal and event time win); past the claim horizon it joins on the
  ``terminal_id`` and ``transaction_time`` it carries (:class:`LabelFacts`). A label dated before
  its transaction's event time is refused. A label that finds no claim and carries no transaction
  time is refused (``UNJOINABLE``) as soon as its slot bucket has a claim floor (a running stream:
  its transaction is past the claim horizon, or unknown, and waiting for it could last forever);
  one carrying a transaction time within the claim horizon is **held** by id (at most
  ``held_labels_per_bucket`` per slot bucket; beyond that it is refused) and applied when the
  transaction arrives — dropped then if dated before it — so either order gives the same result.
  Before a bucket's first transaction (a backfill feeding labels first) every label without a
  claim is held. A held label whose transaction could no longer be recorded (the day of the
  transaction time it carries, else of its ``labeled_at``, below the claim floor) is dropped when
  the floor moves, and counted with the dropped ones. A label joined on its own facts is applied
  only where that terminal's tile of that time holds a recorded transaction not counted as fraud
  yet (its fraud counts, over all ``labeled_at``, below its transaction count), unless it replaces
  a recorded fraud label of its transaction (which it moves); otherwise it is refused
  (``NO_TRANSACTION``), as are times outside the terminal's retained tiles. So labels with made-up
  ids cannot push a terminal's risk above 1 nor grow its state beyond its real transactions.
* **Retention.** A store drops history that no exact answer needs any more: on recording at ``t``,
  with ``b = min(t, clock)`` (``clock`` the stream's event-time clock the caller passes, ``b = t``
  without one), its customer's tiles ``<= tile(b - (max customer window + allowed lateness))``,
  its terminal's tiles (and fraud counts, when a fraud is added) ``<= tile(b - (max terminal window
  + D + allowed lateness))``; claims and recording marks of days before ``day(b - claim horizon)``
  and label records of days before ``day(b - terminal horizon)``, per slot bucket. So one
  transaction dated far ahead of the stream (event times come from outside the trust boundary)
  prunes no more than the honest clock allows. Data arriving at most ``allowed_lateness_days`` out
  of event-time order therefore gets exact features; later data may miss pruned history (both
  stores prune identically, so they still agree). Redis keys also expire after ``key_ttl_s`` of
  wall-clock inactivity (the in-memory store has no wall clock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from itertools import pairwise
from typing import Final

import numpy as np
import numpy.typing as npt

from schemas.events import Label, Transaction

__all__ = [
    "DAY_MS",
    "DEFAULT_SPEC",
    "FEATURE_NAMES",
    "Conflict",
    "FeatureSpec",
    "LabelFacts",
    "LabelOutcome",
    "TxFacts",
    "WindowCounts",
    "counts_only",
    "epoch_ms",
    "feature_matrix",
    "label_wins",
]

DAY_MS: Final = 86_400_000
"""Milliseconds per day."""

_HOUR_MS: Final = 3_600_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday = 0)
_DEFINITION_VERSION: Final = 2
"""Bumped whenever the meaning of a feature changes without a change of the spec's fields
(2: windows made of whole event-time tiles)."""


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime, exactly (sub-millisecond part floored)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class FeatureSpec:
    """The feature windows, the label delay and the retention of the stores."""

    customer_windows_days: tuple[int, ...] = (1, 7, 30)
    """Customer windows in days, strictly increasing."""
    terminal_windows_days: tuple[int, ...] = (1, 7, 30)
    """Terminal windows in days, strictly increasing."""
    label_delay_days: int = 7
    """How far terminal windows are shifted back, so their labels are (mostly) known."""
    night_last_hour: int = 6
    """Last UTC hour counted as night (night = hour ``<=`` this)."""
    allowed_lateness_days: int = 7
    """How far out of event-time order data may arrive and still get exact features."""
    key_ttl_s: int = 60 * 86_400
    """Wall-clock expiry of idle Redis keys; at least the longest retention horizon."""
    held_labels_per_bucket: int = 2048
    """How many labels of not-yet-recorded transactions a store holds per slot bucket (48 buckets)."""
    tile_minutes: int = 60
    """Width of the event-time tiles the windows are made of; divides a day."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("customer_windows_days", "terminal_windows_days"):
            windows = getattr(self, name)
            if not isinstance(windows, tuple) or not all(_is_int(w) for w in windows):
                problems.append(f"{name} must be a tuple of int")
            elif not windows:
                problems.append(f"{name} must not be empty")
            elif windows[0] <= 0 or any(a >= b for a, b in pairwise(windows)):
                problems.append(f"{name} must be positive and strictly increasing")
        for name in (
            "label_delay_days",
            "night_last_hour",
            "allowed_lateness_days",
            "key_ttl_s",
            "held_labels_per_bucket",
            "tile_minutes",
        ):
            if not _is_int(getattr(self, name)):
                problems.append(f"{name} must be an int")
        if problems:
            raise ValueError("invalid feature spec: " + "; ".join(problems))
        if self.label_delay_days < 0:
            problems.append("label_delay_days must be >= 0")
        if not 0 <= self.night_last_hour <= 23:
            problems.append("night_last_hour must be within [0, 23]")
        if self.allowed_lateness_days < 0:
            problems.append("allowed_lateness_days must be >= 0")
        if self.held_labels_per_bucket < 0:
            problems.append("held_labels_per_bucket must be >= 0")
        if not 0 < self.tile_minutes <= 1440 or 1440 % self.tile_minutes:
            problems.append("tile_minutes must be within [1, 1440] and divide a day (1440)")
        horizon_s = max(self.customer_horizon_ms, self.terminal_horizon_ms) // 1000
        if self.key_ttl_s < horizon_s:
            problems.append(f"key_ttl_s must be >= the longest retention horizon ({horizon_s} s)")
        if problems:
            raise ValueError("invalid feature spec: " + "; ".join(problems))

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """The column names of :func:`feature_matrix`, in order."""
        names = ["amount", "is_weekend", "is_night"]
        for w in self.customer_windows_days:
            names += [f"customer_nb_tx_{w}d", f"customer_avg_amount_{w}d"]
        for w in self.terminal_windows_days:
            names += [f"terminal_nb_tx_{w}d", f"terminal_risk_{w}d"]
        return tuple(names)

    @property
    def customer_horizon_ms(self) -> int:
        """Customer history older than this (before the newest transaction) may be pruned."""
        return (self.customer_windows_days[-1] + self.allowed_lateness_days) * DAY_MS

    @property
    def terminal_horizon_ms(self) -> int:
        """Terminal history older than this (before the newest transaction) may be pruned."""
        return (self.terminal_windows_days[-1] + self.label_delay_days + self.allowed_lateness_days) * DAY_MS

    @property
    def tile_ms(self) -> int:
        """Width of an event-time tile in milliseconds."""
        return self.tile_minutes * 60_000

    @property
    def tiles_per_day(self) -> int:
        """How many tiles make a day (a window of ``w`` days is ``w * tiles_per_day`` tiles)."""
        return 1440 // self.tile_minutes

    def tile_of(self, time_ms: int) -> int:
        """The tile of an event time: ``time_ms // tile_ms`` (floor division)."""
        return time_ms // self.tile_ms

    @property
    def claim_horizon_ms(self) -> int:
        """How long (in event time, behind the stream clock) a transaction id stays claimed, so a
        redelivery is recognised: the allowed lateness. The scorer refuses a transaction older than
        this behind its clock, as a redelivery it could no longer recognise would count twice."""
        return self.allowed_lateness_days * DAY_MS

    @property
    def usable_age_ms(self) -> int:
        """How far behind the stream's event-time clock a transaction may be and still count: the
        longest retention horizon (longest window, plus the label delay for terminals, plus the
        allowed lateness). An older one would only enter history that is already pruned."""
        return max(self.customer_horizon_ms, self.terminal_horizon_ms)

    @property
    def digest(self) -> str:
        """Short stable hash of what the features mean (windows, delay, night hour, definition
        version); retention settings are left out, as they do not change the features."""
        canonical = json.dumps(
            {
                "version": _DEFINITION_VERSION,
                "customer_windows_days": list(self.customer_windows_days),
                "terminal_windows_days": list(self.terminal_windows_days),
                "label_delay_days": self.label_delay_days,
                "night_last_hour": self.night_last_hour,
                "tile_minutes": self.tile_minutes,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


DEFAULT_SPEC: Final = FeatureSpec()
FEATURE_NAMES: Final = DEFAULT_SPEC.feature_names


@dataclass(frozen=True, slots=True)
class TxFacts:
    """What the feature stores need of a transaction."""

    transaction_id: str
    customer_id: str
    terminal_id: str
    event_time_ms: int
    amount_cents: int

    @classmethod
    def of(cls, tx: Transaction) -> TxFacts:
        """The facts of a transaction event (amount rounded to cents, event time to epoch ms)."""
        return cls(tx.transaction_id, tx.customer_id, tx.terminal_id, epoch_ms(tx.event_time), round(tx.amount * 100))


@dataclass(frozen=True, slots=True)
class LabelFacts:
    """What the feature stores need of a label."""

    transaction_id: str
    is_fraud: bool
    labeled_at_ms: int
    terminal_id: str | None = None
    """The labelled transaction's terminal, when the label carries it."""
    event_time_ms: int | None = None
    """The labelled transaction's event time, when the label carries it."""

    @classmethod
    def of(cls, label: Label) -> LabelFacts:
        """The facts of a label event."""
        return cls(
            label.transaction_id,
            label.is_fraud,
            epoch_ms(label.labeled_at),
            label.terminal_id,
            None if label.transaction_time is None else epoch_ms(label.transaction_time),
        )


class LabelOutcome(StrEnum):
    """What recording a label did (see the module doc)."""

    NEW = "new"
    """The first label of its transaction."""
    CORRECTED = "corrected"
    """It replaced an older label of its transaction (a different verdict or a later ``labeled_at``)."""
    UNCHANGED = "unchanged"
    """An exact redelivery, or a label older than the one held: nothing changed."""
    HELD = "held"
    """Its transaction is not recorded yet: held until it is."""
    BEFORE_TRANSACTION = "before_transaction"
    """Refused: its ``labeled_at`` is before its transaction's event time."""
    UNKNOWN_TRANSACTION = "unknown_transaction"
    """Refused: its transaction is not recorded and the held labels of its bucket are at their bound."""
    NO_TRANSACTION = "no_transaction"
    """Refused: joined on its own ``terminal_id`` and ``transaction_time`` (past the claim horizon), but
    that terminal has no recorded transaction in that tile left uncounted as fraud (none retained
    there, or every one counted already), so no transaction of its can be the labelled one."""
    UNJOINABLE = "unjoinable"
    """Refused: its transaction is not claimed (not recorded yet while its bucket has a claim floor,
    or past the claim horizon) and the label does not carry the transaction's terminal and event
    time to join on or to be held by."""

    @property
    def refused(self) -> bool:
        """Whether the label was refused (the caller dead-letters it)."""
        return self in (
            LabelOutcome.BEFORE_TRANSACTION,
            LabelOutcome.UNKNOWN_TRANSACTION,
            LabelOutcome.NO_TRANSACTION,
            LabelOutcome.UNJOINABLE,
        )


def label_wins(label: LabelFacts, held: LabelFacts) -> bool:
    """Whether ``label`` replaces ``held`` (same transaction): a later ``labeled_at``, or fraud over
    genuine at the same ``labeled_at``."""
    return (label.labeled_at_ms, label.is_fraud) > (held.labeled_at_ms, held.is_fraud)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A transaction id recorded before with other facts: nothing was recorded or counted for it."""

    stored: TxFacts
    """The facts recorded first under that id."""


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """A transaction's window aggregates, one entry per window of the spec."""

    customer_count: tuple[int, ...]
    customer_amount_cents: tuple[int, ...]
    terminal_count: tuple[int, ...]
    terminal_fraud: tuple[int, ...]


def counts_only(answers: Sequence[WindowCounts | Conflict]) -> list[WindowCounts]:
    """A store's answers for transactions known to have unique ids; a :class:`Conflict` raises ``ValueError``."""
    for answer in answers:
        if isinstance(answer, Conflict):
            raise ValueError(f"transaction id {answer.stored.transaction_id!r} was recorded before with other facts")
    return list(answers)  # type: ignore[arg-type]


def feature_matrix(
    facts: Sequence[TxFacts],
    counts: Sequence[WindowCounts],
    spec: FeatureSpec = DEFAULT_SPEC,
) -> npt.NDArray[np.float64]:
    """The feature rows of ``facts`` (``counts[i]`` belongs to ``facts[i]``), columns in
    ``spec.feature_names`` order, as a float64 array of shape ``(n, len(spec.feature_names))``."""
    n = len(facts)
    if len(counts) != n:
        raise ValueError(f"{n} transactions but {len(counts)} window counts")
    nc, nt = len(spec.customer_windows_days), len(spec.terminal_windows_days)
    width = 2 * (nc + nt)
    flat = np.array(
        [c.customer_count + c.customer_amount_cents + c.terminal_count + c.terminal_fraud for c in counts],
        dtype=np.float64,
    ).reshape(n, width)
    cents = np.fromiter((f.amount_cents for f in facts), dtype=np.int64, count=n)
    times = np.fromiter((f.event_time_ms for f in facts), dtype=np.int64, count=n)

    out = np.empty((n, len(spec.feature_names)), dtype=np.float64)
    out[:, 0] = cents / 100
    out[:, 1] = (times // DAY_MS + _EPOCH_WEEKDAY) % 7 >= 5
    out[:, 2] = (times // _HOUR_MS) % 24 <= spec.night_last_hour
    count, amount = flat[:, :nc], flat[:, nc : 2 * nc]
    out[:, 3 : 3 + 2 * nc : 2] = count
    out[:, 4 : 4 + 2 * nc : 2] = _ratio(amount, count) / 100
    count, fraud = flat[:, 2 * nc : 2 * nc + nt], flat[:, 2 * nc + nt :]
    first = 3 + 2 * nc
    out[:, first : first + 2 * nt : 2] = count
    out[:, first + 1 : first + 2 * nt : 2] = _ratio(fraud, count)
    return out


def _ratio(numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``numerator / denominator`` element-wise, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
