"""Which Redis errors mean "the feature store cannot take this call now": the one classification.

A call fails for one of two reasons. Either Redis cannot be reached or refuses to work for now —
unreachable, timed out, out of memory under ``noeviction`` (``OOM``), busy with a long script
(``BUSY``), loading its dataset (``LOADING``), a replica after a failover (``READONLY``), a replica
without its master (``MASTERDOWN``), too few replicas (``NOREPLICAS``), writes stopped after a failed
snapshot (``MISCONF``), a cluster without a covered slot, a cluster moving a slot between masters
(``ASK``, ``MOVED``, ``TRYAGAIN``, or a script's "attempted to access a non local key" while its
bucket's slot migrates), credentials or permissions revoked — and
the same call succeeds once an operator or Redis itself fixes that; or the call itself is wrong (a
bug, a script error), which no retry fixes. The first kind is :func:`unavailability`'s answer.

Redis sends a refusal as an error reply whose first word is its code. redis-py turns some codes into
their own exception classes (``OutOfMemoryError``, ``ReadOnlyError``, ``BusyLoadingError``...) and
keeps the code in ``status_code``; others (``BUSY``, ``NOREPLICAS``, ``MISCONF``) arrive as a plain
``ResponseError`` whose message starts with the code. Inside a script, Redis 7 passes the refused
command's code on as the script's; older servers wrap it (``ERR Error running script ...: -OOM
command not allowed ...``). All of these are read here, by code, so each refusal has one kind.
"""

from __future__ import annotations

import re
from typing import Final

from redis.exceptions import (
    AskError,
    AuthenticationError,
    ClusterDownError,
    MovedError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["UNAVAILABILITY_KINDS", "unavailability"]

_REFUSAL_KINDS: Final = {
    "OOM": "out_of_memory",
    "BUSY": "busy",
    "LOADING": "loading",
    "READONLY": "read_only",
    "MASTERDOWN": "master_down",
    "NOREPLICAS": "no_replicas",
    "MISCONF": "misconfigured",
    "CLUSTERDOWN": "cluster_down",
    "TRYAGAIN": "cluster_resharding",
    "ASK": "cluster_resharding",
    "MOVED": "cluster_resharding",
    "NOAUTH": "auth",
    "WRONGPASS": "auth",
    "NOPERM": "auth",
}
"""Error codes Redis answers while it refuses work that it will accept later, and their kinds."""

UNAVAILABILITY_KINDS: Final = ("unreachable", "timeout", *dict.fromkeys(_REFUSAL_KINDS.values()))
"""Every kind :func:`unavailability` returns (a metric label: a bounded set)."""

_WRAPPED_CODE = re.compile(r"Error running script.*?-([A-Z]+) ")
_NON_LOCAL_KEY = "Script attempted to access a non local key"


def unavailability(error: BaseException) -> str | None:
    """The kind of unavailability ``error`` reports (one of :data:`UNAVAILABILITY_KINDS`), or ``None``
    when it is an error of the call itself (a retry would fail the same way)."""
    if isinstance(error, SlotNotCoveredError):
        return "cluster_down"
    if isinstance(error, RedisClusterException):
        return "unreachable" if _cluster_unreachable(error) else None
    if not isinstance(error, RedisError):
        return None
    if isinstance(error, AskError | MovedError) or _NON_LOCAL_KEY in str(error):
        return "cluster_resharding"
    code = _error_code(error)
    if code in _REFUSAL_KINDS:
        return _REFUSAL_KINDS[code]
    if isinstance(error, RedisTimeoutError):
        return "timeout"
    if isinstance(error, AuthenticationError):
        return "auth"
    if isinstance(error, RedisConnectionError):
        return "unreachable"
    if isinstance(error, TryAgainError):
        return "cluster_resharding"
    if isinstance(error, ClusterDownError):
        return "cluster_down"
    return None


def _error_code(error: RedisError) -> str | None:
    """The Redis error code of ``error``: the code of the command that failed inside a script (as
    servers before Redis 7 report it), else the one redis-py parsed, else its message's first word."""
    message = str(error)
    wrapped = _WRAPPED_CODE.search(message)
    if wrapped:
        return wrapped.group(1)
    if error.status_code:
        return error.status_code
    first = message.split(" ", 1)[0]
    return first if first.isalpha() and first.isupper() else None


def _cluster_unreachable(error: RedisClusterException) -> bool:
    """Whether a cluster client error means the cluster cannot be reached (not a misuse)."""
    return isinstance(error.__cause__, RedisConnectionError | RedisTimeoutError) or "not covered" in str(error)
