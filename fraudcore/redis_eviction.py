"""Whether Redis may silently delete feature keys when it is full: its ``maxmemory-policy``, judged.

Every feature key has a TTL (see :mod:`fraudcore.features.redis_store`), so not only the ``allkeys-*``
policies but also every ``volatile-*`` one may evict any of them once Redis reaches ``maxmemory``; the
windows then count less than happened, and nothing says so. Only ``noeviction`` is safe: a full Redis
refuses writes (``OOM``), which the scorer treats like an outage (it pauses, nothing is lost).
``CONFIG GET`` may be refused (a managed Redis, an ACL user without ``+config``): the policy is then
reported as not checked, never assumed safe.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

__all__ = ["SAFE_POLICY", "EvictionCheck", "check_eviction", "judge_policy"]

SAFE_POLICY = "noeviction"


@dataclass(frozen=True)
class EvictionCheck:
    """A Redis's ``maxmemory-policy`` (None: could not be read) and what it means for the features."""

    policy: str | None
    detail: str

    @property
    def evicts(self) -> str:
        """``no`` (``noeviction``), ``yes`` (any other policy) or ``unknown`` (not checked)."""
        if self.policy is None:
            return "unknown"
        return "no" if self.policy == SAFE_POLICY else "yes"

    @property
    def safe(self) -> bool:
        return self.evicts == "no"


def judge_policy(policy: str | None, why_unknown: str = "") -> EvictionCheck:
    """The check for ``policy`` (None when it could not be read, ``why_unknown`` saying why)."""
    if policy is None:
        return EvictionCheck(
            None, f"maxmemory-policy could not be checked ({why_unknown}); make sure it is {SAFE_POLICY}"
        )
    if policy == SAFE_POLICY:
        return EvictionCheck(policy, f"maxmemory-policy {policy}: a full Redis refuses writes, the scorer pauses")
    scope = (
        " (every feature key has a TTL, so volatile policies evict them too)" if policy.startswith("volatile") else ""
    )
    return EvictionCheck(
        policy,
        f"maxmemory-policy {policy} can silently evict feature keys when Redis is full{scope}; set it to {SAFE_POLICY}",
    )


def check_eviction(client: redis.Redis) -> EvictionCheck:
    """Read ``maxmemory-policy`` with ``CONFIG GET`` and judge it; a refused or failed read gives an
    unknown policy, never an error."""
    try:
        reply = client.config_get("maxmemory-policy")
    except redis.RedisError as error:
        return judge_policy(None, f"CONFIG GET refused: {type(error).__name__}: {error}")
    policy = reply.get("maxmemory-policy") if isinstance(reply, dict) else None
    if not policy:
        return judge_policy(None, "CONFIG GET returned no maxmemory-policy")
    return judge_policy(policy.decode() if isinstance(policy, bytes) else str(policy))
