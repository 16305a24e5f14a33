"""Scoring a micro-batch, independent of Faust: decode, features, one model call, verdicts.

:meth:`BatchScorer.triage` splits raw messages into valid transactions and dead letters (reason
and original bytes): invalid ones, and those whose event time is older than the features can use
behind the worker's event-time clock (:class:`~fraudcore.event_clock.EventClock`, the median of
recent event times, so a few forged future times cannot make honest traffic stale; only accepted
times move it). A transaction id recorded before with other facts is never scored: it comes back as
a conflict, to dead-letter. :meth:`BatchScorer.score` records and reads the online features in one
store call (passing the clock, so a transaction forged far ahead of the stream prunes no history
the clock still needs), scores every row with one model call on the model in use when the batch began, and builds
the verdicts. When a challenger is held, every verdict also records the other model's score
(``shadow_score``); with a canary share, the challenger decides (and is named in ``model_version``)
for the cards whose stable hash falls below the share. A
:class:`~fraudcore.features.store.FeatureStoreUnavailable` propagates so the caller
can back off and retry the same batch: recording is idempotent per transaction id, so a retry never
counts a transaction twice.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from fraudcore.event_clock import EventClock
from fraudcore.features.definition import (
    DAY_MS,
    DEFAULT_SPEC,
    Conflict,
    FeatureSpec,
    LabelFacts,
    LabelOutcome,
    TxFacts,
    WindowCounts,
    epoch_ms,
    feature_matrix,
)
from fraudcore.features.store import FeatureStore
from fraudcore.models import LoadedModel
from schemas.codec import DEFAULT_POLICY, Decoded, decode_batch
from schemas.dead_letter import DeadLetter
from schemas.enums import ReasonCode
from schemas.events import Transaction, Verdict
from schemas.rejection import Rejected
from scorer.decisions import Thresholds
from scorer.model_holder import ModelHolder
from scorer.verdict_encoding import EncodedVerdicts, encode_verdicts
from scorer.verdicts import ScoredBatch, assemble_verdicts, check_contract

__all__ = [
    "BatchScorer",
    "ConflictingTransactions",
    "RawMessage",
    "ScoredChunk",
    "Triage",
    "card_bucket",
    "conflict_rejection",
    "dead_letter_for",
    "label_rejection",
    "undisclosed_conflict",
    "utc_now",
]


_FUTURE_TOLERANCE_MS = DEFAULT_POLICY.future_tolerance // timedelta(milliseconds=1)
_HOUR_MS = 3_600_000


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A consumed Kafka message, as the scorer needs it."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass
class Triage:
    """A batch split into valid transactions and dead letters, in input order."""

    transactions: list[Transaction] = field(default_factory=list)
    messages: list[RawMessage] = field(default_factory=list)
    """The message of each valid transaction (to dead-letter a conflict)."""
    timestamps_ms: list[int | None] = field(default_factory=list)
    """Kafka timestamp of each valid transaction (for end-to-end latency)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    unknown_fields: int = 0


@dataclass(frozen=True)
class ScoredChunk:
    """The verdicts of a chunk, and its transactions refused as conflicts (index in the chunk)."""

    verdicts: EncodedVerdicts
    conflicts: list[tuple[int, Conflict]]
    size: int
    """How many transactions the chunk held."""


def _no_verdicts() -> EncodedVerdicts:
    """The verdicts of a chunk whose transactions were all refused."""
    return EncodedVerdicts([], [], [], [], [], np.empty(0, dtype=np.float64))


class ConflictingTransactions(Exception):
    """Some transaction ids were recorded before with other facts; those were not scored."""

    def __init__(self, conflicts: list[tuple[int, Conflict]], verdicts: list[Verdict]) -> None:
        super().__init__(f"{len(conflicts)} transaction ids were recorded before with other facts")
        self.conflicts = conflicts
        """``(index in the input, conflict)`` pairs."""
        self.verdicts = verdicts
        """The verdicts of the other transactions, in input order."""


class BatchScorer:
    """Turns batches of transactions into verdicts with the online features and the model in use."""

    def __init__(
        self,
        store: FeatureStore,
        models: ModelHolder,
        thresholds: Thresholds,
        *,
        spec: FeatureSpec = DEFAULT_SPEC,
        reason_count: int = 3,
        canary_share: float = 0.0,
        clock: Callable[[], datetime] = utc_now,
        event_clock: EventClock | None = None,
    ) -> None:
        self.store = store
        self.models = models
        self.thresholds = thresholds
        self.spec = spec
        self.reason_count = reason_count
        self.canary_share = canary_share
        self.last_champion_version: str | None = None
        """The champion version of the last :meth:`score` call (verdicts naming another: the canary)."""
        self.last_batch: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
        """The last batch's feature matrix and champion scores (for drift monitoring)."""
        self.clock = clock
        self.event_clock = event_clock or EventClock()
        """The event-time clock the transactions recorded so far set (see the module doc)."""
        self.stage_seconds: dict[str, float] = {}
        """Seconds spent per stage in the last :meth:`score` call (features, model, verdicts)."""

    def _canary_rows(self, transactions: Sequence[Transaction]) -> npt.NDArray[np.bool_] | None:
        if self.canary_share <= 0:
            return None
        return np.array([card_bucket(t.customer_id) < self.canary_share for t in transactions], dtype=np.bool_)

    def _reasons(
        self,
        champion: LoadedModel,
        challenger: LoadedModel | None,
        matrix: npt.NDArray[np.float64],
        canary: npt.NDArray[np.bool_] | None,
    ) -> list[list[str]]:
        if not self.reason_count:
            return [[] for _ in range(len(matrix))]
        reasons = champion.bundle.reasons(matrix, self.reason_count)
        if challenger is not None and canary is not None and canary.any():
            rows = np.flatnonzero(canary)
            for row, named in zip(
                rows.tolist(), challenger.bundle.reasons(matrix[rows], self.reason_count), strict=True
            ):
                reasons[row] = named
        return reasons

    def triage(self, messages: Sequence[RawMessage]) -> Triage:
        """Decode every message; the invalid and the stale ones become dead letters (never raises on
        bad input). The accepted ones move the event-time clock."""
        now = self.clock()
        batch = decode_batch([message.value for message in messages], Transaction, now=now)
        valid = [result.event for result in batch.results if isinstance(result, Decoded)]
        stale = iter(self.stale(valid, observe=True))
        triage = Triage()
        for message, result in zip(messages, batch.results, strict=True):
            rejection = result if not isinstance(result, Decoded) else next(stale)
            if isinstance(result, Decoded) and rejection is None:
                triage.transactions.append(result.event)
                triage.messages.append(message)
                triage.timestamps_ms.append(message.timestamp_ms)
                triage.unknown_fields += result.unknown_count
            else:
                assert isinstance(rejection, Rejected)
                triage.dead_letters.append(dead_letter_for(message, rejection, now))
        return triage

    def stale(self, transactions: Sequence[Transaction], *, observe: bool) -> list[Rejected | None]:
        """Per transaction, its rejection when its event time is further behind the event-time clock
        than the claim horizon (:attr:`~fraudcore.features.definition.FeatureSpec.claim_horizon_ms`):
        the feature store keeps idempotency claims that long, so an older redelivery would count
        twice. ``observe``: judged by the clock with their event times taken in
        (so a worker's first batch is judged too), and the clock keeps them all, the rejected ones
        included: it follows the majority of recent traffic, so honest traffic that a forged majority
        had made look stale brings it back once it is the majority again (a clock that ignored what it
        rejected would stay ahead for good); else judged by the clock as it is."""
        times = [epoch_ms(transaction.event_time) for transaction in transactions]
        clock = self.event_clock.after(times) if observe else self.event_clock.now_ms
        if clock is None:
            return [None] * len(transactions)
        oldest = clock - self.spec.claim_horizon_ms
        if observe:
            self.event_clock.observe(times)
        return [
            None
            if t >= oldest
            else Rejected(
                ReasonCode.STALE_EVENT_TIME,
                "event_time",
                f"event_time: {transaction.event_time.isoformat()} is more than {self.spec.claim_horizon_ms // DAY_MS}"
                f" days behind the stream's event-time clock ({_iso(clock)}): past the claim horizon, where a"
                " redelivery could no longer be recognised",
            )
            for transaction, t in zip(transactions, times, strict=True)
        ]

    def labels_ahead(self, labels: Sequence[LabelFacts]) -> list[Rejected | None]:
        """Per label, its rejection when its ``labeled_at`` is ahead of the stream: beyond the
        event-time clock plus its lead (how far the newest transactions are ahead of the median,
        :attr:`~fraudcore.event_clock.EventClock.lead_ms`) plus the decoder's future tolerance
        (:attr:`~schemas.codec.DecodePolicy.future_tolerance`). In a stream replayed years behind the
        wall clock, a forged label dated "today" (which the decoder lets through) would otherwise beat
        every real one under "the latest label wins"; within the bound it beats only chargebacks of
        the next day or so. Until this worker has accepted a transaction the clock is unknown and only
        the decoder's wall-clock bound applies (a backfill may send labels before their transactions)."""
        clock = self.event_clock.now_ms
        if clock is None:
            return [None] * len(labels)
        lead = self.event_clock.lead_ms
        limit = clock + lead + _FUTURE_TOLERANCE_MS
        return [
            None
            if label.labeled_at_ms <= limit
            else Rejected(
                ReasonCode.IMPLAUSIBLE_TIME,
                "labeled_at",
                f"labeled_at: {_iso(label.labeled_at_ms)} is ahead of the stream: after its event-time clock"
                f" ({_iso(clock)}) plus the newest transactions' lead ({lead / _HOUR_MS:.1f} h) plus"
                f" {_FUTURE_TOLERANCE_MS / _HOUR_MS:.0f} h",
            )
            for label in labels
        ]

    async def score(self, transactions: Sequence[Transaction], *, record: bool = True) -> list[Verdict]:
        """Verdicts for ``transactions`` (in order); ``record=False`` reads features without writing.

        Raises :class:`ConflictingTransactions` when some ids were recorded before with other facts
        (the others are scored, and recorded when ``record``; the exception carries their verdicts)."""
        if not transactions:
            return []
        started = time.perf_counter()
        model, challenger = self.models.champion, self.models.challenger  # a swap lands between batches
        facts = [TxFacts.of(transaction) for transaction in transactions]
        clock = self.event_clock.now_ms
        answers = await (
            self.store.record_transactions(facts, clock_ms=clock)
            if record
            else self.store.peek_transactions(facts, clock_ms=clock)
        )
        conflicts, rows = _split(answers)
        verdicts: list[Verdict] = []
        if rows:
            batch = self._scored(
                [transactions[row] for row in rows],
                [facts[row] for row in rows],
                list(rows.values()),
                model,
                challenger,
                started,
            )
            assembled = time.perf_counter()
            verdicts = assemble_verdicts(batch, self.thresholds)
            check_contract(verdicts[0])
            self.stage_seconds["verdicts"] = time.perf_counter() - assembled
        if conflicts:
            raise ConflictingTransactions(conflicts, verdicts)
        return verdicts

    async def score_chunks(
        self, transactions: Sequence[Transaction], chunk_size: int
    ) -> AsyncGenerator[ScoredChunk, None]:
        """The verdict records of ``transactions``, ``chunk_size`` at a time, recording the features;
        the conflicts of each chunk are not scored.

        One model serves every chunk (the one in use when the call began). A store that counts ahead
        (:attr:`FeatureStore.counts_ahead`) counts the next chunk while this one is scored and
        encoded; with any other store the transactions are one chunk. After each chunk,
        :attr:`last_batch` and :attr:`stage_seconds` describe it.
        """
        if not transactions:
            return
        if not self.store.counts_ahead:
            chunk_size = len(transactions)
        model, challenger = self.models.champion, self.models.challenger
        chunks = [transactions[at : at + chunk_size] for at in range(0, len(transactions), chunk_size)]
        facts = [[TxFacts.of(transaction) for transaction in chunk] for chunk in chunks]
        waited = time.perf_counter()
        async with aclosing(self.store.record_chunks(facts, clock_ms=self.event_clock.now_ms)) as counted:
            at = 0
            async for answers in counted:
                conflicts, rows = _split(answers)
                chunk, chunk_facts = chunks[at], facts[at]
                if len(rows) < len(chunk):
                    chunk, chunk_facts = [chunk[row] for row in rows], [chunk_facts[row] for row in rows]
                encoded, self.last_batch = _no_verdicts(), None
                if rows:
                    batch = self._scored(chunk, chunk_facts, list(rows.values()), model, challenger, waited)
                    assembled = time.perf_counter()
                    encoded = encode_verdicts(batch, self.thresholds)
                    self.stage_seconds["verdicts"] = time.perf_counter() - assembled
                yield ScoredChunk(encoded, conflicts, len(chunks[at]))
                at += 1
                waited = time.perf_counter()

    def _scored(
        self,
        transactions: Sequence[Transaction],
        facts: Sequence[TxFacts],
        counts: Sequence[WindowCounts],
        model: LoadedModel,
        challenger: LoadedModel | None,
        started: float,
    ) -> ScoredBatch:
        """Scores and reasons of ``transactions`` from their counts; ``started``: when their features
        were asked for (``perf_counter``)."""
        self.last_champion_version = model.version
        matrix = feature_matrix(facts, counts, self.spec)
        featured = time.perf_counter()
        champion_scores = model.bundle.score(matrix)
        other_scores = challenger.bundle.score(matrix) if challenger is not None else None
        canary = self._canary_rows(transactions) if challenger is not None else None
        reasons = self._reasons(model, challenger, matrix, canary)
        scores = champion_scores
        if canary is not None and other_scores is not None:  # the challenger decides for the canary cards
            scores, other_scores = np.where(canary, other_scores, scores), np.where(canary, scores, other_scores)
        scored = time.perf_counter()
        scored_at = self.clock()
        canary_rows = [False] * len(transactions) if canary is None else canary.tolist()
        assert challenger is not None or not any(canary_rows)
        decider = {False: model.version, True: challenger.version if challenger else model.version}
        other = {False: challenger.version if challenger else None, True: model.version}
        self.last_batch = (matrix, champion_scores)
        self.stage_seconds = {"features": featured - started, "model": scored - featured}
        return ScoredBatch(
            transaction_ids=[transaction.transaction_id for transaction in transactions],
            customer_ids=[transaction.customer_id for transaction in transactions],
            feature_names=model.bundle.feature_names,
            matrix=matrix,
            scores=scores,
            model_name=model.name,
            model_versions=[decider[row] for row in canary_rows],
            reasons=reasons,
            scored_at=[scored_at] * len(transactions),
            scoring_latency_s=scored - started,
            shadow_scores=other_scores,
            shadow_versions=[other[row] for row in canary_rows] if challenger is not None else None,
        )


def _split(answers: Sequence[WindowCounts | Conflict]) -> tuple[list[tuple[int, Conflict]], dict[int, WindowCounts]]:
    """The conflicts of a store's answers (with their rows), and the counts of the other rows by row."""
    conflicts: list[tuple[int, Conflict]] = []
    rows: dict[int, WindowCounts] = {}
    for row, answer in enumerate(answers):
        if isinstance(answer, Conflict):
            conflicts.append((row, answer))
        else:
            rows[row] = answer
    return conflicts, rows


def conflict_rejection(transaction: Transaction, conflict: Conflict) -> Rejected:
    """Why a transaction whose id was recorded before with other facts is refused."""
    stored = conflict.stored
    differs = [
        name
        for name, mine, theirs in (
            ("event_time", epoch_ms(transaction.event_time), stored.event_time_ms),
            ("amount", round(transaction.amount * 100), stored.amount_cents),
            ("customer_id", transaction.customer_id, stored.customer_id),
            ("terminal_id", transaction.terminal_id, stored.terminal_id),
        )
        if mine != theirs
    ]
    return Rejected(
        ReasonCode.CONFLICTING_DUPLICATE,
        "transaction_id",
        f"transaction_id: {transaction.transaction_id!r} was recorded before with another {', '.join(differs)};"
        " the first content stands and this one is not scored",
    )


def undisclosed_conflict() -> Rejected:
    """:func:`conflict_rejection` for a caller not entitled to the stored facts: no field named."""
    return Rejected(
        ReasonCode.CONFLICTING_DUPLICATE,
        "transaction_id",
        "transaction_id: this transaction id was recorded with other content; it is not scored",
    )


def label_rejection(label: LabelFacts, outcome: LabelOutcome, spec: FeatureSpec) -> Rejected:
    """Why a label the feature store refused (``outcome.refused``) is dead-lettered."""
    if outcome is LabelOutcome.BEFORE_TRANSACTION:
        return Rejected(
            ReasonCode.LABEL_BEFORE_TRANSACTION,
            "labeled_at",
            f"labeled_at: {_iso(label.labeled_at_ms)} is before the event time of transaction"
            f" {label.transaction_id!r}; a label cannot precede its transaction",
        )
    if outcome is LabelOutcome.UNJOINABLE:
        return Rejected(
            ReasonCode.UNJOINABLE_LABEL,
            "transaction_id",
            f"transaction_id: {label.transaction_id!r} is not claimed (not scored yet, or past the claim horizon of"
            f" {spec.claim_horizon_ms // DAY_MS} days behind the stream) and the label carries no terminal_id and"
            " transaction_time to join on: send the label with its transaction's terminal_id and transaction_time,"
            " or send the transaction before its label",
        )
    if outcome is LabelOutcome.NO_TRANSACTION:
        return Rejected(
            ReasonCode.UNKNOWN_TRANSACTION,
            "transaction_id",
            f"transaction_id: {label.transaction_id!r} is past the claim horizon and terminal_id {label.terminal_id!r}"
            f" has no recorded transaction left uncounted as fraud in the {spec.tile_minutes}-minute tile of"
            f" transaction_time {_iso(label.event_time_ms or 0)}; the label matches no transaction and is not counted",
        )
    return Rejected(
        ReasonCode.UNKNOWN_TRANSACTION,
        "transaction_id",
        f"transaction_id: {label.transaction_id!r} is not recorded, and {spec.held_labels_per_bucket} labels of"
        " unrecorded transactions are held already in its bucket (replay this label once its transaction is scored)",
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def dead_letter_for(message: RawMessage, rejection: Rejected, now: datetime) -> DeadLetter:
    """The dead letter of a rejected message: its original bytes, origin, reason and time."""
    return DeadLetter.from_raw(
        message.value,
        key=message.key,
        headers=message.headers,
        source_topic=message.topic,
        source_partition=message.partition,
        source_offset=message.offset,
        reason_code=rejection.reason_code,
        reason=rejection.message,
        failed_at=now,
    )


def card_bucket(customer_id: str) -> float:
    """A card's stable position in [0, 1) (CRC-32 of its id): the canary takes the cards below its share."""
    return zlib.crc32(customer_id.encode("utf-8")) / 2**32
