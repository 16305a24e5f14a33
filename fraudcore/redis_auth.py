"""The one definition of how fraudstream authenticates to Redis (beyond what ``FRAUD_REDIS_URL`` holds)."""

from __future__ import annotations

from typing import TypedDict
from urllib.parse import urlsplit

from fraudcore.settings import Settings

__all__ = ["RedisAuthRefused", "RedisCredentials", "redis_credentials"]


class RedisAuthRefused(Exception):
    """Redis refused fraudstream's credentials (or wants some and got none); says which settings to fix."""

    def __init__(self, settings: Settings, reason: object) -> None:
        where = urlsplit(settings.redis_connection_url)
        super().__init__(
            f"Redis at {where.hostname}:{where.port or 6379} refused the connection's credentials ({reason}): "
            "set FRAUD_REDIS_PASSWORD (and FRAUD_REDIS_USERNAME for an ACL user), or the password in FRAUD_REDIS_URL"
        )


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
