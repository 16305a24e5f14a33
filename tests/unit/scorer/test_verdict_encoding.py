"""The column-wise verdict bytes equal the reference encoding of every verdict, row by row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from fraudcore.features.definition import DEFAULT_SPEC
from schemas.codec import Decoded, decode, encode
from schemas.events import Verdict, digest_features
from scorer.decisions import Thresholds
from scorer.verdict_encoding import encode_verdicts
from scorer.verdicts import ScoredBatch, assemble_verdicts

NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def batch_of(matrix: np.ndarray, scores: np.ndarray, **changes: object) -> ScoredBatch:
    count = len(matrix)
    values: dict[str, object] = {
        "transaction_ids": [f"tx{i:06d}" for i in range(count)],
        "customer_ids": [f"c{i % 7:04d}" for i in range(count)],
        "feature_names": list(DEFAULT_SPEC.feature_names),
        "matrix": matrix,
        "scores": scores,
        "model_name": "fraud-model",
        "model_versions": ["4"] * count,
        "reasons": [["amount", "terminal_risk_7d"][: i % 3] for i in range(count)],
        "scored_at": [NOW] * count,
        "scoring_latency_s": 0.0123,
    }
    values.update(changes)
    return ScoredBatch(**values)  # type: ignore[arg-type]


def random_matrix(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Counts, cents-like amounts, flags, and magnitudes across the formatting boundaries."""
    width = len(DEFAULT_SPEC.feature_names)
    magnitudes = 10.0 ** rng.integers(-9, 19, size=(rows, width))
    matrix = np.round(rng.random((rows, width)) * magnitudes, int(rng.integers(0, 6)))
    matrix[rng.random((rows, width)) < 0.2] = 0.0
    matrix[:, 0] = rng.integers(0, 40, size=rows)  # an integral column
    return matrix


def reference(batch: ScoredBatch, thresholds: Thresholds) -> list[bytes]:
    return [encode(verdict) for verdict in assemble_verdicts(batch, thresholds)]


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(6))
def test_every_row_equals_the_reference_encoding(seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = random_matrix(rng, 300)
    scores = rng.random(300) ** 4  # many tiny scores (written as 0.0000x by pydantic)
    scores[:3] = [0.0, 1.0, 1e-9]
    batch = batch_of(matrix, scores)
    encoded = encode_verdicts(batch, Thresholds())
    assert encoded.values == reference(batch, Thresholds())
    assert encoded.keys == [tx.encode() for tx in batch.transaction_ids]


@pytest.mark.unit
def test_digests_equal_the_contract_definition_outside_the_plain_number_range() -> None:
    names = sorted(DEFAULT_SPEC.feature_names)
    matrix = np.full((4, len(names)), 2.5)
    matrix[1, 3] = 1e-7
    matrix[2, 5] = 3e17
    matrix[3, 7] = 9.99e-5
    encoded = encode_verdicts(batch_of(matrix, np.full(4, 0.3)), Thresholds())
    for row, value in enumerate(encoded.values):
        decoded = decode(value, Verdict, now=NOW + timedelta(seconds=1))
        assert isinstance(decoded, Decoded)
        assert decoded.event.feature_digest == digest_features(decoded.event.features)
        assert decoded.event.features == dict(zip(list(DEFAULT_SPEC.feature_names), matrix[row].tolist(), strict=True))


@pytest.mark.unit
def test_shadow_scores_canary_versions_unusual_ids_and_per_row_times() -> None:
    rng = np.random.default_rng(7)
    count = 40
    batch = batch_of(
        random_matrix(rng, count),
        rng.random(count),
        transaction_ids=[f'tx"{i}\\é\u2028' if i % 3 == 0 else f"tx{i}" for i in range(count)],
        customer_ids=[f"card {i} ü" for i in range(count)],
        model_versions=["5" if i % 4 == 0 else "4" for i in range(count)],
        reasons=[["amount", 'odd "reason" ☃'] for _ in range(count)],
        scored_at=[NOW + timedelta(milliseconds=17 * i) for i in range(count)],
        shadow_scores=rng.random(count) ** 6,
        shadow_versions=["4" if i % 4 == 0 else "5" for i in range(count)],
    )
    encoded = encode_verdicts(batch, Thresholds(review=0.3, decline=0.8))
    assert encoded.values == reference(batch, Thresholds(review=0.3, decline=0.8))
    assert encoded.keys == [tx.encode() for tx in batch.transaction_ids]
    assert list(encoded.model_versions) == list(batch.model_versions)


@pytest.mark.unit
def test_columns_for_metrics_follow_the_thresholds() -> None:
    scores = np.array([0.1, 0.55, 0.95, 1.2])  # a score above 1 is clipped in the verdict
    encoded = encode_verdicts(batch_of(np.ones((4, len(DEFAULT_SPEC.feature_names))), scores), Thresholds())
    assert [decision.value for decision in encoded.decisions] == ["approve", "review", "decline", "decline"]
    assert encoded.scores.tolist() == [0.1, 0.55, 0.95, 1.0]
    assert len(encoded) == 4


@pytest.mark.unit
def test_a_non_finite_feature_is_refused() -> None:
    matrix = np.ones((2, len(DEFAULT_SPEC.feature_names)))
    matrix[1, 2] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        encode_verdicts(batch_of(matrix, np.array([0.1, 0.2])), Thresholds())


@pytest.mark.unit
def test_an_empty_batch_encodes_to_nothing() -> None:
    encoded = encode_verdicts(batch_of(np.empty((0, len(DEFAULT_SPEC.feature_names))), np.empty(0)), Thresholds())
    assert encoded.values == []
    assert encoded.keys == []
