"""Redis eviction policies judged: only noeviction keeps every feature key; unknown is never safe."""

from __future__ import annotations

import pytest

from fraudcore.redis_eviction import judge_policy


def test_noeviction_is_safe() -> None:
    check = judge_policy("noeviction")
    assert check.safe
    assert check.evicts == "no"


@pytest.mark.parametrize(
    "policy",
    ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"],
)
def test_every_other_policy_can_evict_feature_keys(policy: str) -> None:
    check = judge_policy(policy)
    assert not check.safe
    assert check.evicts == "yes"
    assert f"maxmemory-policy {policy} can silently evict feature keys" in check.detail
    assert ("every feature key has a TTL" in check.detail) == policy.startswith("volatile")


def test_a_policy_that_could_not_be_read_is_unknown_and_not_safe() -> None:
    check = judge_policy(None, "CONFIG GET refused: NoPermissionError")
    assert check.policy is None
    assert check.evicts == "unknown"
    assert not check.safe
    assert "could not be checked (CONFIG GET refused: NoPermissionError)" in check.detail
