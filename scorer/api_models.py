"""The bodies of the scorer's HTTP API that are not events: errors and batch results.

Pydantic models, so the OpenAPI document (:mod:`scorer.openapi`) describes them from the same
source as the event contracts (:mod:`schemas.events`); the views write the same shapes (a test
validates real answers against the document).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import ReasonCode
from schemas.events import Verdict

__all__ = ["BatchResult", "ErrorBody", "Problem", "RejectedRow", "ScoredRow"]

_CONFIG = ConfigDict(frozen=True, use_attribute_docstrings=True)


class Problem(BaseModel):
    """Why one transaction of a request was not scored."""

    model_config = _CONFIG

    index: Annotated[int, Field(ge=0)]
    """Position of the transaction in the request (0 for a single transaction)."""
    reason_code: ReasonCode
    """Stable machine-readable reason (the dead-letter reason codes)."""
    field: str | None
    """The offending field (dotted path), null when the whole value is at fault."""
    message: str
    """What is wrong, naming the field."""


class ErrorBody(BaseModel):
    """Every error answer: a message, and per-transaction problems when transactions were at fault."""

    model_config = _CONFIG

    error: str
    """What went wrong."""
    problems: list[Problem] | None = None
    """The transactions refused (400: invalid or stale, 409: conflicting ids); absent otherwise."""


class ScoredRow(BaseModel):
    """A transaction of a batch that was scored."""

    model_config = _CONFIG

    index: Annotated[int, Field(ge=0)]
    """Position of the transaction in the request."""
    status: Literal["scored"]
    """Always ``scored``."""
    verdict: Verdict
    """Its verdict."""


class RejectedRow(BaseModel):
    """A transaction of a batch that was not scored (and not recorded)."""

    model_config = _CONFIG

    index: Annotated[int, Field(ge=0)]
    """Position of the transaction in the request."""
    status: Literal["rejected"]
    """Always ``rejected``."""
    reason_code: ReasonCode
    """Stable machine-readable reason (the dead-letter reason codes)."""
    field: str | None
    """The offending field (dotted path), null when the whole value is at fault."""
    message: str
    """What is wrong, naming the field."""


class BatchResult(BaseModel):
    """The answer to a batch: one result per transaction, in request order."""

    model_config = _CONFIG

    results: list[Annotated[ScoredRow | RejectedRow, Field(discriminator="status")]]
    """One entry per transaction of the request, in its order."""
    scored: Annotated[int, Field(ge=0)]
    """How many transactions were scored."""
    rejected: Annotated[int, Field(ge=0)]
    """How many were rejected."""
