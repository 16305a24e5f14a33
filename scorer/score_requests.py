"""``POST /score`` independent of the web server: a request body in, a status and a JSON body out.

The transactions go through the same :class:`~scorer.scoring.BatchScorer` as the Kafka stream
(same decoder, event-time clock, features and model). Modes:

* **One transaction** (a JSON object): 200 with its verdict; 400 with the problem when it is invalid
  or stale, 409 when its id was recorded before with other facts.
* **A batch** (a JSON array), per row (the default): 200 with a :class:`~scorer.api_models.BatchResult`:
  every valid row scored (and recorded with ``record``), every other one rejected with its index,
  reason code, field and message; nothing is recorded for a rejected row.
* **A batch, all or nothing** (``all_or_nothing``): any invalid or stale row: 400 with every problem;
  any conflicting id: 409; in both cases nothing is scored or recorded. Otherwise as per row. (With
  ``record``, conflicts are looked for before recording; a conflicting write landing from elsewhere
  between that look and the recording is still answered 409, the other rows then recorded.)

Bounds: at most ``limit`` transactions (413 beyond); 503 while the feature store is unreachable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudcore.features.definition import Conflict, TxFacts
from fraudcore.features.store import FeatureStoreUnavailable
from schemas.codec import Decoded, decode, encode
from schemas.events import Transaction, Verdict
from schemas.rejection import Rejected
from scorer.scoring import BatchScorer, ConflictingTransactions, conflict_rejection, undisclosed_conflict

__all__ = ["Answer", "ScoreOptions", "score_request"]


@dataclass(frozen=True)
class ScoreOptions:
    """How to treat one ``POST /score``."""

    record: bool = False
    """Record the transactions in the online features (needs the token: checked by the caller)."""
    all_or_nothing: bool = False
    """A batch is scored only if every row is valid."""
    disclose_conflicts: bool = False
    """Name the fields that differ from a stored transaction (only for a caller with a valid token)."""
    limit: int = 1
    """Most transactions in one request."""
    limit_hint: str = ""
    """Appended to the message of a request over ``limit``."""


@dataclass(frozen=True)
class Answer:
    """A status and a JSON body."""

    status: int
    body: bytes


def _json(status: int, document: dict[str, Any]) -> Answer:
    return Answer(status, json.dumps(document).encode())


def _error(status: int, message: str, problems: Sequence[tuple[int, Rejected]] | None = None) -> Answer:
    document: dict[str, Any] = {"error": message}
    if problems is not None:
        document["problems"] = [_problem(index, rejection) for index, rejection in problems]
    return _json(status, document)


def _problem(index: int, rejection: Rejected) -> dict[str, Any]:
    return {
        "index": index,
        "reason_code": rejection.reason_code.value,
        "field": rejection.field,
        "message": rejection.message,
    }


async def score_request(scorer: BatchScorer, body: bytes, options: ScoreOptions, *, now: datetime) -> Answer:
    """The answer to ``POST /score`` with ``body`` (see the module doc)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"the body is not JSON: {exc}")
    except RecursionError:
        return _error(400, "the body nests arrays or objects too deeply")
    single = isinstance(document, dict)
    items = [document] if single else document
    if not isinstance(items, list) or not items:
        return _error(400, f"expected a transaction object or an array of 1 to {options.limit}")
    if len(items) > options.limit:
        return _error(413, f"{len(items)} transactions: at most {options.limit} per request{options.limit_hint}")
    atomic = single or options.all_or_nothing
    decoded = [_decode(item, now) for item in items]
    problems = [(index, result) for index, result in enumerate(decoded) if isinstance(result, Rejected)]
    if atomic and problems:
        return _error(400, "invalid transactions", problems)
    valid = [(index, result) for index, result in enumerate(decoded) if isinstance(result, Transaction)]
    transactions = [transaction for _, transaction in valid]
    stale = scorer.stale(transactions, observe=options.record)
    problems += [(valid[row][0], rejection) for row, rejection in enumerate(stale) if rejection is not None]
    if atomic and problems:
        return _error(400, "invalid transactions", problems)
    if problems:
        rejected = {index for index, _ in problems}
        valid = [(index, transaction) for index, transaction in valid if index not in rejected]
        transactions = [transaction for _, transaction in valid]
    try:
        if atomic and options.record and (early := await _conflicts(scorer, transactions)):
            return _conflict_answer(valid, early, options)
        verdicts = await scorer.score(transactions, record=options.record)
        conflicts: list[tuple[int, Conflict]] = []
    except FeatureStoreUnavailable as exc:
        return _error(503, f"feature store unavailable: {exc}")
    except ConflictingTransactions as exc:
        if atomic:
            return _conflict_answer(valid, exc.conflicts, options)
        verdicts, conflicts = exc.verdicts, exc.conflicts
    if single:
        return Answer(200, encode(verdicts[0]))
    for row, conflict in conflicts:
        problems.append((valid[row][0], _conflict_rejection(valid[row][1], conflict, options)))
    return Answer(200, _batch_body(len(items), valid, conflicts, verdicts, problems))


def _decode(item: Any, now: datetime) -> Transaction | Rejected:
    result = decode(json.dumps(item, allow_nan=True).encode(), Transaction, now=now)
    return result.event if isinstance(result, Decoded) else result


async def _conflicts(scorer: BatchScorer, transactions: Sequence[Transaction]) -> list[tuple[int, Conflict]]:
    """The rows whose id was recorded before with other facts, found without recording anything."""
    facts = [TxFacts.of(transaction) for transaction in transactions]
    answers = await scorer.store.peek_transactions(facts, clock_ms=scorer.event_clock.now_ms)
    return [(row, answer) for row, answer in enumerate(answers) if isinstance(answer, Conflict)]


def _conflict_rejection(transaction: Transaction, conflict: Conflict, options: ScoreOptions) -> Rejected:
    return conflict_rejection(transaction, conflict) if options.disclose_conflicts else undisclosed_conflict()


def _conflict_answer(
    valid: Sequence[tuple[int, Transaction]], conflicts: Sequence[tuple[int, Conflict]], options: ScoreOptions
) -> Answer:
    problems = [(valid[row][0], _conflict_rejection(valid[row][1], conflict, options)) for row, conflict in conflicts]
    return _error(409, "conflicting transactions", problems)


def _batch_body(
    size: int,
    valid: Sequence[tuple[int, Transaction]],
    conflicts: Sequence[tuple[int, Conflict]],
    verdicts: Sequence[Verdict],
    problems: Sequence[tuple[int, Rejected]],
) -> bytes:
    """A :class:`~scorer.api_models.BatchResult`'s JSON, the verdicts written by the event encoder."""
    refused = {row for row, _ in conflicts}
    scored = [index for row, (index, _) in enumerate(valid) if row not in refused]
    rows: list[bytes | None] = [None] * size
    for index, verdict in zip(scored, verdicts, strict=True):
        rows[index] = b'{"index":%d,"status":"scored","verdict":%s}' % (index, encode(verdict))
    for index, rejection in problems:
        rows[index] = json.dumps({"index": index, "status": "rejected", **_problem(index, rejection)}).encode()
    assert all(row is not None for row in rows)
    results = b",".join(row for row in rows if row is not None)
    return b'{"results":[%s],"scored":%d,"rejected":%d}' % (results, len(scored), len(problems))
