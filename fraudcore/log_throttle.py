"""A logging filter that lets a repeated message through at most once per interval.

aiokafka logs some conditions at every retry: while a topic is missing, "Topic ... not found in
cluster metadata" about ten times a second. The first occurrence says everything; the filter passes
it, drops the repeats for ``interval_s`` and then passes the next one with the number it dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

__all__ = ["RepeatFilter", "throttle_repeats"]

_MAX_KEYS = 1000


class RepeatFilter(logging.Filter):
    """Passes a record unless one with the same logger, level, message template and arguments passed
    less than ``interval_s`` ago."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._interval_s = interval_s
        self._clock = clock
        self._seen: dict[tuple[object, ...], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        key = (record.name, record.levelno, str(record.msg), *map(repr, args))
        now = self._clock()
        passed = self._seen.get(key)
        if passed is not None and now - passed[0] < self._interval_s:
            self._seen[key] = (passed[0], passed[1] + 1)
            return False
        if len(self._seen) >= _MAX_KEYS:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if passed is not None and passed[1]:
            record.msg = f"{record.msg} (repeated {passed[1]} times in the last {now - passed[0]:.0f} s)"
        return True


def throttle_repeats(logger_names: Iterable[str], interval_s: float) -> None:
    """Add one :class:`RepeatFilter` to each named logger."""
    repeats = RepeatFilter(interval_s)
    for name in logger_names:
        logging.getLogger(name).addFilter(repeats)
