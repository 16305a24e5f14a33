"""What a failed Kafka send says: a bounded name for metrics, and whether only an operator can end it.

A worker resends what failed until it is acknowledged (nothing is dropped), so every send error is
"retried"; but some end by themselves (a leader election, a broker restarting) and some persist until
someone acts: the topic was deleted, the record is larger than the topic accepts, the credentials lack
a permission. Those are named here, so a worker stuck on one says so.
"""

from __future__ import annotations

from typing import Final

import aiokafka.errors
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnknownTopicOrPartitionError,
)

__all__ = ["NEEDS_OPERATOR", "error_name", "needs_operator"]

NEEDS_OPERATOR: Final[tuple[type[Exception], ...]] = (
    UnknownTopicOrPartitionError,
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    SaslAuthenticationFailed,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    PolicyViolationError,
)
"""Send errors that persist until an operator acts (recreate the topic, grant the permission, raise the
size limit); the others end by themselves."""


def needs_operator(error: BaseException) -> bool:
    """Whether ``error`` persists until an operator acts (see :data:`NEEDS_OPERATOR`)."""
    return isinstance(error, NEEDS_OPERATOR)


def error_name(error: BaseException) -> str:
    """The class name of an aiokafka error, ``other`` for anything else: a bounded metric label."""
    name = type(error).__name__
    return name if getattr(aiokafka.errors, name, None) is type(error) else "other"
