"""Offline features of columns: the trainer's and the backtest's one entry point to the feature definition."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fraudcore.features.definition import DEFAULT_SPEC, FeatureSpec, LabelFacts, TxFacts
from fraudcore.features.memory import offline_features

__all__ = ["NEVER", "offline_feature_matrix"]

NEVER = np.iinfo(np.int64).max
"""``fraud_labeled_at_ms`` of a row without a fraud label."""


def offline_feature_matrix(
    event_time_ms: npt.NDArray[np.int64],
    amount_cents: npt.NDArray[np.int64],
    customer_code: npt.NDArray[np.int64],
    terminal_code: npt.NDArray[np.int64],
    fraud_labeled_at_ms: npt.NDArray[np.int64],
    spec: FeatureSpec = DEFAULT_SPEC,
) -> npt.NDArray[np.float64]:
    """The feature matrix of columns (rows in input order; codes: equal id, equal code;
    ``fraud_labeled_at_ms``: when the row's winning label, a fraud one dated at or after it, was
    given, else :data:`NEVER`), replayed row by row through the memory store."""
    transactions = [
        TxFacts(f"r{row}", f"c{customer}", f"t{terminal}", t, cents)
        for row, (t, cents, customer, terminal) in enumerate(
            zip(
                event_time_ms.tolist(),
                amount_cents.tolist(),
                customer_code.tolist(),
                terminal_code.tolist(),
                strict=True,
            )
        )
    ]
    fraud = np.flatnonzero(fraud_labeled_at_ms != NEVER)
    labels = [
        LabelFacts(f"r{row}", True, at)
        for row, at in zip(fraud.tolist(), fraud_labeled_at_ms[fraud].tolist(), strict=True)
    ]
    return offline_features(transactions, labels, spec)
