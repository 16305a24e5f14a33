"""The one place naming fraudstream's Kafka topics and the key of each.

Keys decide partitioning, hence ordering and co-location:

* ``transactions``, ``labels``: ``customer_id`` (a card's events stay in order on one partition,
  next to its labels); a label without ``customer_id`` has no key.
* ``verdicts``: ``transaction_id``.
* ``model-events``: ``model_name`` (one model's lifecycle stays in order).
* ``transactions.dlq``: the original message's key, unchanged.

Keys are the UTF-8 bytes of the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final

from schemas.dead_letter import DeadLetter
from schemas.events import Event, Label, ModelEvent, Transaction, Verdict

__all__ = ["KEY_FIELDS", "Topics", "key_for"]

_LEGAL: Final = re.compile(r"[A-Za-z0-9._-]*")
_MAX_NAME: Final = 249

KEY_FIELDS: Final[dict[type[Event], str]] = {
    Transaction: "customer_id",
    Label: "customer_id",
    Verdict: "transaction_id",
    ModelEvent: "model_name",
    DeadLetter: "key_b64",
}
"""Which field keys each event's topic (dead letters: the base64 of the original key)."""


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names, all sharing one prefix; build with :meth:`with_prefix`."""

    transactions: str = "transactions"
    labels: str = "labels"
    verdicts: str = "verdicts"
    model_events: str = "model-events"
    dead_letters: str = "transactions.dlq"

    @classmethod
    def with_prefix(cls, prefix: str = "") -> Topics:
        """The topics named ``prefix + name``; the prefix is used verbatim (``"dev."`` gives
        ``dev.transactions``), so it may contain only ``A-Z a-z 0-9 . _ -``."""
        if not _LEGAL.fullmatch(prefix):
            raise ValueError(f"topic prefix {prefix!r} may contain only letters, digits, '.', '_' and '-'")
        default = cls()
        names = {field.name: prefix + getattr(default, field.name) for field in fields(cls)}
        too_long = [name for name in names.values() if len(name) > _MAX_NAME]
        if too_long:
            raise ValueError(f"topic names over {_MAX_NAME} characters: {', '.join(too_long)}")
        return cls(**names)

    def all(self) -> tuple[str, ...]:
        """Every topic name, in declaration order (for topic creation)."""
        return (self.transactions, self.labels, self.verdicts, self.model_events, self.dead_letters)

    def topic_for(self, event_type: type[Event]) -> str:
        """The topic an event type is produced to."""
        by_type: dict[type[Event], str] = {
            Transaction: self.transactions,
            Label: self.labels,
            Verdict: self.verdicts,
            ModelEvent: self.model_events,
            DeadLetter: self.dead_letters,
        }
        try:
            return by_type[event_type]
        except KeyError:
            raise ValueError(f"no topic carries {event_type.__name__}") from None


def key_for(event: Event) -> bytes | None:
    """The Kafka key bytes to produce ``event`` with (``None``: no key)."""
    if isinstance(event, DeadLetter):
        return event.original_key()
    try:
        field = KEY_FIELDS[type(event)]
    except KeyError:
        raise ValueError(f"no key rule for {type(event).__name__}") from None
    value: str | None = getattr(event, field)
    return None if value is None else value.encode("utf-8")
