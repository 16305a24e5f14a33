"""Decode throughput measurement: ``python -m schemas.bench [count]``.

Not a test (no timing assertions anywhere); a number to compare changes against.
"""

from __future__ import annotations

import sys
import time

from schemas.codec import Decoded, decode_transaction
from schemas.examples import EXAMPLE_NOW, transaction_payloads

__all__ = ["decode_throughput", "main"]


def decode_throughput(count: int = 100_000, *, rounds: int = 3) -> float:
    """Best-of-``rounds`` messages/second of :func:`decode_transaction` over ``count`` valid payloads."""
    if count < 1 or rounds < 1:
        raise ValueError("count and rounds must be positive")
    payloads = transaction_payloads(count)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for payload in payloads:
            result = decode_transaction(payload, now=EXAMPLE_NOW)
            if not isinstance(result, Decoded):
                raise RuntimeError(f"generated payload rejected: {result}")
        best = min(best, time.perf_counter() - start)
    return count / best


def main(argv: list[str] | None = None) -> int:
    """Print the measured throughput."""
    args = sys.argv[1:] if argv is None else argv
    count = int(args[0]) if args else 100_000
    print(f"decode_transaction: {decode_throughput(count):,.0f} messages/s ({count:,} messages, best of 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
