"""The one definition of how fraudstream authenticates to Redis (beyond what ``FRAUD_REDIS_URL`` holds)."""

from __future__ import annotations

from typing import TypedDict

from fraudcore.settings import Settings

__all__ = ["RedisCredentials", "redis_credentials"]


class RedisCredentials(TypedDict, total=False):
    """The authentication keyword arguments of redis-py's clients."""

    username: str
    password: str


def redis_credentials(settings: Settings) -> RedisCredentials:
    """``username``/``password`` keyword arguments for any redis-py client (empty when none is set;
    credentials written in the URL itself are read by redis-py from the URL)."""
    credentials = RedisCredentials()
    if settings.redis_password is not None:
        credentials["password"] = settings.redis_password.get_secret_value()
    if settings.redis_username is not None:
        credentials["username"] = settings.redis_username
    return credentials
