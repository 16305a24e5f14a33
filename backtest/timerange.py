"""The event-time range a backtest evaluates, and the history its features need before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fraudcore.features.definition import DAY_MS, FeatureSpec, epoch_ms

__all__ = ["TimeRange", "iso", "look_back_days", "parse_moment"]


def parse_moment(text: str) -> datetime:
    """An ISO date or date-time (``2018-05-01``, ``2018-05-01T12:00``, ``…Z``, ``…+02:00``); UTC
    unless an offset is given. Raises ``ValueError`` with a message naming the expected forms."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2018-05-01 or 2018-05-01T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def iso(moment_ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC string (``Z``; milliseconds only when not zero)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=moment_ms)
    text = moment.isoformat(timespec="milliseconds" if moment_ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def look_back_days(spec: FeatureSpec) -> int:
    """Days of history before a transaction that its features read: the longest customer window, or
    the longest terminal window shifted back by the label delay, whichever reaches further."""
    return max(spec.customer_windows_days[-1], spec.terminal_windows_days[-1] + spec.label_delay_days)


@dataclass(frozen=True)
class TimeRange:
    """Event times ``[start_ms, end_ms)`` in epoch milliseconds (UTC)."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.start_ms >= self.end_ms:
            raise ValueError(f"the range is empty: {iso(self.start_ms)} is not before {iso(self.end_ms)}")

    @classmethod
    def between(cls, start: datetime, end: datetime) -> TimeRange:
        """The range from ``start`` (included) to ``end`` (excluded); both must be timezone-aware."""
        return cls(epoch_ms(start), epoch_ms(end))

    def contains(self, moment_ms: int) -> bool:
        """Whether ``moment_ms`` lies in the range."""
        return self.start_ms <= moment_ms < self.end_ms

    def replay_from_ms(self, spec: FeatureSpec) -> int:
        """Where the replay starts: the range start minus the features' look-back, so the features of
        the first days see their whole windows."""
        return self.start_ms - look_back_days(spec) * DAY_MS

    @property
    def first_day(self) -> int:
        """Day index (``epoch_ms // DAY_MS``) of the range's first day."""
        return self.start_ms // DAY_MS

    @property
    def last_day(self) -> int:
        """Day index of the range's last day."""
        return (self.end_ms - 1) // DAY_MS
