"""The dead-letter record: a rejected Kafka message, byte-exact, plus why it was rejected."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, ClassVar, Final

from pydantic import Field

from schemas.enums import ReasonCode
from schemas.events import Event
from schemas.fields import Base64, Lenient, StrictInt, Text, Timestamp

__all__ = ["DEAD_LETTER_MAX_BYTES", "DeadLetter"]

DEAD_LETTER_MAX_BYTES: Final = 4 * 1024 * 1024
"""Size limit of an encoded dead letter: base64 inflates the original by 4/3, so the dead-letter
topic needs a ``max.message.bytes`` of about 4/3 of its sources' plus a few KiB."""

_REASON_MAX: Final = 4096

TopicName = Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]
HeaderName = Annotated[str, Field(max_length=1024)]


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)


class DeadLetter(Event):
    """A message the consumer could not use. ``value_b64``/``key_b64``/headers hold the exact
    original bytes (``null`` for a null value, key or header value), so nothing is lost even
    when the original is not UTF-8; :meth:`original_value` gives them back."""

    event_name: ClassVar[str] = "dead_letter"
    time_fields: ClassVar[tuple[str, ...]] = ("failed_at",)
    max_bytes: ClassVar[int] = DEAD_LETTER_MAX_BYTES

    value_b64: Base64 | None
    """The original value, base64 (``null``: the value was null, a tombstone)."""
    key_b64: Base64 | None
    """The original key, base64 (``null``: no key). The dead letter is produced with this key."""
    headers: list[tuple[HeaderName, Base64 | None]]
    """The original headers as ``[name, base64 value or null]`` pairs, in order."""
    source_topic: TopicName
    """Topic the message was read from."""
    source_partition: Annotated[StrictInt, Field(ge=0)]
    """Its partition."""
    source_offset: Annotated[StrictInt, Field(ge=0)]
    """Its offset."""
    reason_code: Annotated[ReasonCode, Lenient]
    """Machine-readable rejection reason."""
    reason: Text
    """Human-readable rejection reason (which field, what was wrong)."""
    failed_at: Timestamp
    """When the consumer rejected the message."""

    @classmethod
    def from_raw(
        cls,
        value: bytes | None,
        *,
        key: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] = (),
        source_topic: str,
        source_partition: int,
        source_offset: int,
        reason_code: ReasonCode,
        reason: str,
        failed_at: datetime,
    ) -> DeadLetter:
        """Wrap a rejected message; ``reason`` is truncated to 4096 characters."""
        return cls(
            value_b64=_b64(value),
            key_b64=_b64(key),
            headers=[(name, _b64(header)) for name, header in headers],
            source_topic=source_topic,
            source_partition=source_partition,
            source_offset=source_offset,
            reason_code=reason_code,
            reason=reason[:_REASON_MAX],
            failed_at=failed_at,
        )

    def original_value(self) -> bytes | None:
        """The exact bytes of the original value (``None`` for a tombstone)."""
        return _unb64(self.value_b64)

    def original_key(self) -> bytes | None:
        """The exact bytes of the original key (``None`` when it had none)."""
        return _unb64(self.key_b64)

    def original_headers(self) -> list[tuple[str, bytes | None]]:
        """The original headers, in order, with their exact byte values."""
        return [(name, _unb64(header)) for name, header in self.headers]
