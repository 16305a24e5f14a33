"""The wire bytes of a scored batch's verdicts, built column-wise (the scorer's hot path).

Building a :class:`~schemas.events.Verdict` per row and encoding it costs more than the rest of
scoring. Here every column is formatted once per batch by pydantic's own serializer
(:func:`pydantic_core.to_json`, in Rust: the exact number and string formatting
:func:`schemas.codec.encode` uses) and the digest's canonical text by :func:`json.dumps` (as
:func:`schemas.events.digest_features` defines it); each verdict is then one byte template filled in.

The contract stays the :class:`Verdict` model: every batch, the first row is also built the
reference way (:func:`~scorer.verdicts.assemble_verdicts`, then :func:`~schemas.codec.encode`) and
its bytes must equal the fast ones, so a format drift fails the batch loudly instead of reaching a
topic (:class:`AssertionError`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
import pydantic_core

from schemas.codec import encode
from schemas.enums import Decision, RiskLevel
from schemas.events import FeatureDigester, Verdict
from schemas.topics import KEY_FIELDS
from scorer.decisions import Thresholds
from scorer.verdicts import ScoredBatch, assemble_verdicts, check_contract

__all__ = ["EncodedVerdicts", "encode_verdicts"]

_KEY_FIELD: Final = KEY_FIELDS[Verdict]
_PLAIN_MARKS: Final = ('"', "\\")
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class EncodedVerdicts:
    """A batch's verdicts as Kafka records, and the columns the scorer's metrics need."""

    keys: list[bytes]
    values: list[bytes]
    decisions: list[Decision]
    risk_levels: list[RiskLevel]
    model_versions: Sequence[str]
    scores: npt.NDArray[np.float64]
    """The deciding model's scores, clipped to [0, 1] as the verdicts carry them."""

    def __len__(self) -> int:
        return len(self.values)


def encode_verdicts(batch: ScoredBatch, thresholds: Thresholds) -> EncodedVerdicts:
    """The verdicts of ``batch`` as bytes, in row order; equal to encoding :func:`assemble_verdicts`."""
    count = len(batch.transaction_ids)
    scores = np.clip(np.asarray(batch.scores, dtype=np.float64), 0.0, 1.0)
    decisions, risk_levels = thresholds.decisions(batch.scores), thresholds.risk_levels(batch.scores)
    if count == 0:
        return EncodedVerdicts([], [], decisions, risk_levels, batch.model_versions, scores)
    if not np.isfinite(batch.matrix).all():
        raise ValueError("a feature value is not finite; verdicts carry finite features only")
    names = list(batch.feature_names)
    order = sorted(range(len(names)), key=names.__getitem__)
    sorted_names = [names[i] for i in order]
    matrix = batch.matrix[:, order]
    features, digests = _features_and_digests(sorted_names, matrix)
    shadow = [None] * count if batch.shadow_scores is None else np.clip(batch.shadow_scores, 0.0, 1.0).tolist()
    shadow_versions = [None] * count if batch.shadow_versions is None else list(batch.shadow_versions)
    columns = zip(
        _strings(batch.transaction_ids),
        _strings(batch.customer_ids),
        _numbers(scores.tolist()),
        [decision.value.encode() for decision in decisions],
        [risk.value.encode() for risk in risk_levels],
        _strings(batch.model_versions),
        features,
        digests,
        _reasons(batch.reasons),
        _timestamps(batch.scored_at),
        _numbers(shadow),
        _values(shadow_versions),
        strict=True,
    )
    head = b'{"schema_version":1,"transaction_id":'
    model_name = pydantic_core.to_json(batch.model_name)
    latency = pydantic_core.to_json(batch.scoring_latency_s)
    values = [
        b"".join(
            (
                head,
                tx_id,
                b',"customer_id":',
                customer,
                b',"score":',
                score,
                b',"decision":"',
                decision,
                b'","risk_level":"',
                risk,
                b'","model_name":',
                model_name,
                b',"model_version":',
                version,
                b',"features":',
                row_features,
                b',"feature_digest":"',
                digest,
                b'","scoring_latency_s":',
                latency,
                b',"reasons":',
                reasons,
                b',"scored_at":',
                scored_at,
                b',"shadow_score":',
                shadow_score,
                b',"shadow_model_version":',
                shadow_version,
                b"}",
            )
        )
        for (
            tx_id,
            customer,
            score,
            decision,
            risk,
            version,
            row_features,
            digest,
            reasons,
            scored_at,
            shadow_score,
            shadow_version,
        ) in columns
    ]
    key_column = batch.transaction_ids if _KEY_FIELD == "transaction_id" else batch.customer_ids
    encoded = EncodedVerdicts(
        [key.encode() for key in key_column], values, decisions, risk_levels, batch.model_versions, scores
    )
    _check_first_row(batch, thresholds, encoded)
    return encoded


def _check_first_row(batch: ScoredBatch, thresholds: Thresholds, encoded: EncodedVerdicts) -> None:
    """The first row built and encoded the reference way must give the same bytes and key."""
    first = replace(
        batch,
        transaction_ids=batch.transaction_ids[:1],
        customer_ids=batch.customer_ids[:1],
        matrix=batch.matrix[:1],
        scores=batch.scores[:1],
        model_versions=batch.model_versions[:1],
        reasons=batch.reasons[:1],
        scored_at=batch.scored_at[:1],
        shadow_scores=None if batch.shadow_scores is None else batch.shadow_scores[:1],
        shadow_versions=None if batch.shadow_versions is None else batch.shadow_versions[:1],
    )
    (verdict,) = assemble_verdicts(first, thresholds)
    check_contract(verdict)
    expected = encode(verdict)
    if encoded.values[0] != expected or encoded.keys[0] != getattr(verdict, _KEY_FIELD).encode():
        raise AssertionError(f"fast verdict bytes drifted from the contract: {encoded.values[0]!r}, not {expected!r}")


def _features_and_digests(
    sorted_names: Sequence[str], matrix: npt.NDArray[np.float64]
) -> tuple[list[bytes], list[bytes]]:
    """Each row's ``features`` object and its digest (:func:`~schemas.events.digest_features`).

    pydantic formats the objects in one call; the digest's canonical text (``json.dumps`` of the
    sorted items) is the same text rearranged, because for plain names and for numbers that are 0 or
    within [1e-4, 1e16) in magnitude pydantic and ``json.dumps`` write the same characters. Rows
    holding other numbers get their digest the reference way.
    """
    rows = matrix.tolist()
    whole = pydantic_core.to_json([dict(zip(sorted_names, row, strict=True)) for row in rows])[2:-2]
    objects = [b"{" + inner + b"}" for inner in whole.split(b"},{")]
    if not all(_PLAIN_NAME.fullmatch(name) for name in sorted_names):
        digester = FeatureDigester(sorted_names)
        return objects, [digester(row).encode() for row in rows]
    canonical = whole.replace(b',"', b'],["').replace(b'":', b'",').split(b"},{")
    digests = [hashlib.sha256(b"[[" + text + b"]]").hexdigest().encode() for text in canonical]
    magnitude = np.abs(matrix)
    plain = ((magnitude == 0) | ((magnitude >= 1e-4) & (magnitude < 1e16))).all(axis=1)
    if not plain.all():
        digester = FeatureDigester(sorted_names)
        for row in np.flatnonzero(~plain).tolist():
            digests[row] = digester(rows[row]).encode()
    return objects, digests


def _numbers(values: Sequence[float | None]) -> list[bytes]:
    """Each number (or ``null``) as pydantic writes it."""
    return pydantic_core.to_json(list(values))[1:-1].split(b",")


def _strings(values: Sequence[str]) -> list[bytes]:
    """Each string as a JSON string, as pydantic writes it."""
    if all(value.isascii() and value.isprintable() for value in values):
        joined = "\x00".join(values)
        if not any(mark in joined for mark in _PLAIN_MARKS):
            return [b'"' + value.encode() + b'"' for value in values]
    return [pydantic_core.to_json(value) for value in values]


def _values(values: Sequence[str | None]) -> list[bytes]:
    """Each optional string as JSON (``null`` for ``None``)."""
    if all(value is None for value in values):
        return [b"null"] * len(values)
    return [pydantic_core.to_json(value) for value in values]


def _reasons(reasons: Sequence[list[str]]) -> list[bytes]:
    """Each row's reasons as a JSON array (formatted once per distinct list)."""
    cache: dict[tuple[str, ...], bytes] = {}
    out = []
    for names in reasons:
        key = tuple(names)
        text = cache.get(key)
        if text is None:
            text = cache[key] = pydantic_core.to_json(names)
        out.append(text)
    return out


def _timestamps(values: Sequence[object]) -> list[bytes]:
    """Each timestamp as pydantic writes it (formatted once when the whole batch shares one)."""
    first = values[0]
    if all(value is first for value in values):
        return [pydantic_core.to_json(first)] * len(values)
    return [pydantic_core.to_json(value) for value in values]
