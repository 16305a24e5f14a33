"""The one error a benchmark run reports instead of a result."""

from __future__ import annotations

__all__ = ["BenchError"]


class BenchError(Exception):
    """A measurement could not be taken (a variant stopped, timed out, or gave no output); the
    message says which and why, with the end of the process's log when there is one."""
