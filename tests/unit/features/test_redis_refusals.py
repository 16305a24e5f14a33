"""Which Redis errors pause the scorer (the feature store is unavailable for now) and which are bugs."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import (
    AuthenticationError,
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fraudcore.features.redis_refusals import UNAVAILABILITY_KINDS, unavailability


def _reply(text: str) -> Exception:
    """The exception redis-py makes of the error reply ``-<text>``."""
    error: Exception = BaseParser.parse_error(text)  # type: ignore[no-untyped-call]
    return error


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("OOM command not allowed when used memory > 'maxmemory'.", "out_of_memory"),
        (
            "OOM command not allowed when used memory > 'maxmemory'. script: 21694b3f, on @user_script:42.",
            "out_of_memory",
        ),
        (
            "ERR Error running script (call to f_21694b3f): @user_script:42: @user_script: 42: "
            "-OOM command not allowed when used memory > 'maxmemory'. ",
            "out_of_memory",
        ),
        ("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", "busy"),
        ("LOADING Redis is loading the dataset in memory", "loading"),
        ("READONLY You can't write against a read only replica.", "read_only"),
        ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", "master_down"),
        ("NOREPLICAS Not enough good replicas to write.", "no_replicas"),
        (
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
            "misconfigured",
        ),
        ("CLUSTERDOWN The cluster is down", "cluster_down"),
        ("TRYAGAIN Multiple keys request during rehashing of slot", "cluster_resharding"),
        ("ASK 3999 127.0.0.1:6381", "cluster_resharding"),
        ("MOVED 3999 127.0.0.1:6381", "cluster_resharding"),
        (
            "ERR Script attempted to access a non local key in a cluster node script: 1f2e3d4c, on @user_script:120.",
            "cluster_resharding",
        ),
        ("NOPERM this user has no permissions to run the 'evalsha' command", "auth"),
        ("WRONGPASS invalid username-password pair or user is disabled.", "auth"),
    ],
)
def test_refusals_are_unavailability_of_their_kind(reply: str, kind: str) -> None:
    assert unavailability(_reply(reply)) == kind
    assert kind in UNAVAILABILITY_KINDS


def test_a_refusal_without_a_parsed_code_is_read_from_its_message() -> None:
    assert unavailability(ResponseError("BUSY Redis is busy running a script.")) == "busy"
    assert unavailability(ResponseError("NOREPLICAS Not enough good replicas to write.")) == "no_replicas"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RedisConnectionError("Connection refused"), "unreachable"),
        (RedisTimeoutError("Timeout reading from socket"), "timeout"),
        (AuthenticationError("invalid password"), "auth"),
        (ClusterDownError("The cluster is down"), "cluster_down"),
        (SlotNotCoveredError("Slot 5 is not covered by the cluster."), "cluster_down"),
    ],
)
def test_connection_failures_are_unavailability(error: Exception, kind: str) -> None:
    assert unavailability(error) == kind


@pytest.mark.parametrize(
    "error",
    [
        _reply("ERR Error running script (call to f_1): @user_script:3: user_script:3: attempt to compare nil"),
        _reply("WRONGTYPE Operation against a key holding the wrong kind of value"),
        _reply("ERR unknown command 'EVALSHA'"),
        NoScriptError("No matching script."),
        RedisClusterException("No way to dispatch this command to Redis Cluster."),
        ValueError("not a Redis error"),
    ],
)
def test_errors_of_the_call_itself_are_not_unavailability(error: Exception) -> None:
    assert unavailability(error) is None
