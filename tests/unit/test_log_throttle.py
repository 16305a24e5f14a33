"""A repeated log message passes once per interval, then with the count of the repeats dropped."""

from __future__ import annotations

import logging

from fraudcore.log_throttle import RepeatFilter


def _record(topic: str) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.cluster", logging.ERROR, __file__, 1, "Topic %s not found", (topic,), None)


def test_repeats_pass_once_per_interval_with_their_count() -> None:
    now = [0.0]
    repeats = RepeatFilter(30.0, clock=lambda: now[0])
    assert repeats.filter(_record("a"))
    passed = []
    for _ in range(50):  # ten a second for five seconds
        now[0] += 0.1
        passed.append(repeats.filter(_record("a")))
    assert not any(passed)
    assert repeats.filter(_record("b"))  # another topic is another message
    now[0] = 31.0
    again = _record("a")
    assert repeats.filter(again)
    assert again.getMessage() == "Topic a not found (repeated 50 times in the last 31 s)"
    now[0] = 70.0
    quiet = _record("a")
    assert repeats.filter(quiet)
    assert quiet.getMessage() == "Topic a not found"
