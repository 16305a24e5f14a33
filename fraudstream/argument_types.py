"""Argument types shared by the commands: numbers within bounds, with a message that says what to fix."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

__all__ = ["bounded"]


def _parse(kind: type[int] | type[float], low: float, high: float, text: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
    if not low <= value <= high:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"{text} must be within {kind(low):,} and {kind(high):,}")
    return value


def bounded(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], int | float]:
    """An argparse ``type`` accepting a ``kind`` number within ``[low, high]``."""
    return partial(_parse, kind, low, high)
