"""Mixing poison inputs into a stream of valid transactions (pure: no I/O)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.workload import Record
from chaos.poison_catalogue import CATALOGUE, DUPLICATE, Expected, PoisonKind

__all__ = ["KINDS", "Poison", "PoisonedStream", "mix_poison"]

KINDS: tuple[PoisonKind, ...] = (*CATALOGUE, DUPLICATE)
"""The kinds in the order they take turns."""

_TAIL_SHARE = 0.1
"""No poison in the last tenth of the stream: the valid transactions there, on every partition, have
verdicts only once every input before them on their partition was handled (dead letters included)."""


@dataclass(frozen=True)
class Poison:
    """One poison input sent."""

    kind: PoisonKind
    value: bytes
    transaction_id: str
    """Its own id (``poison-<serial>``), or the id it repeats (the duplicate)."""
    position: int
    """Its index in what is sent."""


@dataclass
class PoisonedStream:
    """What is sent, which transactions must get a verdict, and the poison inputs among them."""

    sent: list[Record] = field(default_factory=list)
    expected: set[str] = field(default_factory=set)
    poisons: list[Poison] = field(default_factory=list)

    @property
    def invalid_values(self) -> set[bytes]:
        """The bytes that must be dead-lettered."""
        return {poison.value for poison in self.poisons if poison.kind.expected is Expected.DEAD_LETTERED}


def mix_poison(records: Sequence[Record], every: int, seed: int) -> PoisonedStream:
    """After every ``every``-th valid transaction (except in the last tenth) one poison input, the kinds
    taking turns, made from that transaction (same key, event time, card and terminal, an id of its own);
    the duplicate repeats the transaction ``every // 2`` places back."""
    if every < 2:
        raise ValueError("every must be at least 2")
    rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
    stream = PoisonedStream(expected={record.transaction_id for record in records})
    last = int(len(records) * (1 - _TAIL_SHARE))
    for index, record in enumerate(records):
        stream.sent.append(record)
        if (index + 1) % every or index >= last:
            continue
        serial = len(stream.poisons)
        kind = KINDS[serial % len(KINDS)]
        if kind is DUPLICATE:
            record = records[index - every // 2]
            document = json.loads(record.value)
        else:
            document = json.loads(record.value) | {"transaction_id": f"poison-{serial:06d}"}
        poison = Poison(kind, kind.make(document, rng), document["transaction_id"], len(stream.sent))
        stream.sent.append(Record(record.key, poison.value, poison.transaction_id))
        stream.poisons.append(poison)
        if kind.expected is Expected.SCORED:
            stream.expected.add(poison.transaction_id)
    return stream
