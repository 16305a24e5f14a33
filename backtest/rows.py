"""The replayed rows as the evaluation sees them: labels, and which rows are scored and evaluated.

Rows in range are scored; of them, those with a label are evaluated, except (by default, the
handbook's rule as the trainer's test windows apply it) the rows of cards already known to be
compromised when their day began: a fraud of theirs in the replayed history (from the look-back's
start on, the backtest's counterpart of a fold's first training day) was labelled before. An
investigator already holds those cards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backtest.history import NEVER, History
from backtest.timerange import TimeRange
from fraudcore.features.definition import DAY_MS

# The trainer's Dataset (features and labels per transaction, with known_compromised) is what the
# backtest evaluates on as well: it belongs in fraudcore, and is imported from the trainer until it moves.
from trainer.training import Dataset

__all__ = ["EvaluationRows", "evaluation_rows"]


@dataclass(frozen=True)
class EvaluationRows:
    """The replayed transactions and the row selections of a backtest."""

    data: Dataset
    """Every replayed transaction (look-back included), rows in event-time order; every label read
    counts as known. Its matrix has no column: only the rows in range are scored, and the backtest
    computes the features of those alone."""
    amount_cents: npt.NDArray[np.int64]
    in_range: npt.NDArray[np.bool_]
    """Rows whose event time lies in the range: scored, and counted in the alert volume."""
    known_compromised: npt.NDArray[np.bool_]
    evaluated: npt.NDArray[np.bool_]
    """Rows in range with a label (and, unless kept, not of a known compromised card)."""

    @property
    def scenarios_known(self) -> bool:
        """Whether every evaluated row carries its simulated fraud scenario."""
        return bool((self.data.scenario[self.evaluated] >= 0).all())


def evaluation_rows(history: History, time_range: TimeRange, *, keep_known_compromised: bool = False) -> EvaluationRows:
    """The rows of ``history`` and their selections."""
    times, cents = history.event_time_ms, history.amount_cents
    labelled = history.labeled_at_ms != NEVER
    data = Dataset(
        matrix=np.zeros((len(times), 0)),
        labelled=labelled,
        is_fraud=labelled & history.is_fraud,
        day=times // DAY_MS,
        customer=history.customer,
        scenario=history.scenarios,
        amount=cents / 100,
        labeled_at_ms=history.labeled_at_ms,
        clock_ms=time_range.end_ms,
    )
    in_range = (times >= time_range.start_ms) & (times < time_range.end_ms)
    known = data.known_compromised()
    evaluated = in_range & data.labelled
    if not keep_known_compromised:
        evaluated &= ~known
    return EvaluationRows(data, cents, in_range, known & in_range & data.labelled, evaluated)
