"""A synthetic history for the trainer's and the backtest's columnar input, as kcat input files.

``python -m bench.columnar_history N DAYS PREFIX`` writes ``PREFIX.tx`` and ``PREFIX.labels``: N
transactions spread over DAYS days from 2018-04-01 (N/100 cards, N/500 terminals, 1% fraud with
three times the amount) and a label for each, given seven days (plus up to an hour) later, in time
order, up to the last transaction's time. One ``key<TAB>value`` line per event: load them with
``kcat -P -K '\\t' -t <topic> -l PREFIX.tx`` (hundreds of thousands of events a second).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

_DAY_MS = 86_400_000


def _stamps(ms: npt.NDArray[np.int64]) -> list[str]:
    return [f"{text}Z" for text in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").tolist()]


def write(n: int, days: int, prefix: str, seed: int = 1) -> int:
    """Write the files; returns the number of labels."""
    rng = np.random.default_rng(seed)
    start = int(datetime(2018, 4, 1, tzinfo=UTC).timestamp() * 1000)
    times = np.sort(rng.integers(start, start + days * _DAY_MS, n))
    cards = rng.integers(0, max(1, n // 100), n).tolist()
    terminals = rng.integers(0, max(1, n // 500), n).tolist()
    cents = np.minimum(rng.lognormal(3.5, 1.0, n) * 100, 99_999_999).astype(np.int64)
    fraud = rng.random(n) < 0.01
    cents[fraud] *= 3
    stamps, frauds, amounts = _stamps(times), fraud.tolist(), (cents / 100).tolist()
    with open(f"{prefix}.tx", "w", encoding="ascii") as out:
        for i in range(n):
            out.write(
                f'{cards[i]}\t{{"schema_version":1,"transaction_id":"tx{i:08d}","event_time":"{stamps[i]}",'
                f'"customer_id":"{cards[i]}","terminal_id":"{terminals[i]}","amount":{amounts[i]},'
                f'"fraud_scenario":{int(frauds[i])}}}\n'
            )
    labeled_at = times + 7 * _DAY_MS + rng.integers(0, 3_600_000, n)
    given = np.flatnonzero(labeled_at <= times[-1])
    order = given[np.argsort(labeled_at[given], kind="stable")].tolist()
    label_stamps = _stamps(labeled_at)
    with open(f"{prefix}.labels", "w", encoding="ascii") as out:
        for i in order:
            verdict = "true" if frauds[i] else "false"
            out.write(
                f'{cards[i]}\t{{"schema_version":1,"transaction_id":"tx{i:08d}","is_fraud":{verdict},'
                f'"labeled_at":"{label_stamps[i]}","source":"simulated","customer_id":"{cards[i]}"}}\n'
            )
    return len(order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transactions", type=int)
    parser.add_argument("days", type=int)
    parser.add_argument("prefix")
    args = parser.parse_args()
    labels = write(args.transactions, args.days, args.prefix)
    print(f"{args.transactions:,} transactions, {labels:,} labels")


if __name__ == "__main__":
    main()
