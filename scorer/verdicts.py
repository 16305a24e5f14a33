"""Assembling the verdicts of a scored batch (the live scorer and the backtest share it).

Verdicts are built with ``model_construct``: every value is produced and bounded here, and
validating each one costs more than the rest of scoring. One verdict per batch is still checked
against the contract (:func:`check_contract`), so a systematic mistake fails loudly instead of
reaching a topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from schemas.codec import Decoded, decode, encode
from schemas.events import FeatureDigester, Verdict
from scorer.decisions import Thresholds

__all__ = ["ScoredBatch", "assemble_verdicts", "check_contract"]


@dataclass(frozen=True)
class ScoredBatch:
    """What a batch's verdicts are made of: one entry per row unless said otherwise."""

    transaction_ids: Sequence[str]
    customer_ids: Sequence[str]
    feature_names: Sequence[str]
    matrix: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    """Scores of the deciding model."""
    model_name: str
    model_versions: Sequence[str]
    """The version that decided each row."""
    reasons: Sequence[list[str]]
    scored_at: Sequence[datetime]
    scoring_latency_s: float
    shadow_scores: npt.NDArray[np.float64] | None = None
    shadow_versions: Sequence[str | None] | None = None


def assemble_verdicts(batch: ScoredBatch, thresholds: Thresholds) -> list[Verdict]:
    """The verdicts of ``batch``, in row order (features keyed in sorted order, as the contract says)."""
    names = batch.feature_names
    order = sorted(range(len(names)), key=names.__getitem__)
    sorted_names = [names[i] for i in order]
    digest = FeatureDigester(sorted_names)
    rows = batch.matrix[:, order].tolist()
    clipped = np.clip(batch.scores, 0.0, 1.0).tolist()
    decisions, risk_levels = thresholds.decisions(batch.scores), thresholds.risk_levels(batch.scores)
    count = len(batch.transaction_ids)
    shadow = [None] * count if batch.shadow_scores is None else np.clip(batch.shadow_scores, 0.0, 1.0).tolist()
    shadow_versions = [None] * count if batch.shadow_versions is None else batch.shadow_versions
    build = Verdict.model_construct
    return [
        build(
            transaction_id=batch.transaction_ids[row],
            customer_id=batch.customer_ids[row],
            score=clipped[row],
            decision=decisions[row],
            risk_level=risk_levels[row],
            model_name=batch.model_name,
            model_version=batch.model_versions[row],
            features=dict(zip(sorted_names, rows[row], strict=True)),
            feature_digest=digest(rows[row]),
            scoring_latency_s=batch.scoring_latency_s,
            reasons=batch.reasons[row],
            scored_at=batch.scored_at[row],
            shadow_score=shadow[row],
            shadow_model_version=shadow_versions[row],
        )
        for row in range(count)
    ]


def check_contract(verdict: Verdict) -> None:
    """Validate one verdict against the contract (raises ``AssertionError`` when outside it)."""
    checked = decode(encode(verdict), Verdict, now=verdict.scored_at)
    if not isinstance(checked, Decoded) or checked.event != verdict:
        raise AssertionError(f"a verdict was built outside its contract: {checked}")
