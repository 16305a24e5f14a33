"""Who may call the scorer's HTTP writes: a bearer token of ``FRAUD_API_TOKEN``, compared in constant time.

``Authorization: Bearer <token>`` (RFC 6750). The answer to a request that needs the token:

* no token configured: 403, the write is disabled (secure by default) and the message names the
  variable to set;
* no ``Authorization`` header, another scheme or a malformed credential: 401 with
  ``WWW-Authenticate: Bearer``;
* a well-formed token that is not one of the configured ones: 403.

Each presented token is hashed and compared with the hash of every configured token by
:func:`hmac.compare_digest` (no early exit), so the answer takes as long whichever token matched,
however much of it was right and however long it was.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from fraudcore.settings import Settings

__all__ = ["CHALLENGE", "BearerTokens", "Refusal"]

CHALLENGE = 'Bearer realm="fraudstream-scorer"'
"""The ``WWW-Authenticate`` value of a 401."""

_CREDENTIAL = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its HTTP status, a message for the caller and the response headers."""

    status: int
    message: str

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": CHALLENGE} if self.status == 401 else {}


class BearerTokens:
    """The tokens the HTTP writes accept (none: every write is refused)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._digests = tuple(_digest(token.encode()) for token in tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> BearerTokens:
        return cls(settings.api_tokens)

    @property
    def configured(self) -> bool:
        """Whether any token is set (else the writes are disabled)."""
        return bool(self._digests)

    def check(self, authorization: str | None) -> Refusal | None:
        """None when the ``Authorization`` header value carries a configured token, else the refusal."""
        if not self._digests:
            return Refusal(403, "this endpoint is disabled: no API token is configured (set FRAUD_API_TOKEN)")
        if authorization is None or not authorization.strip():
            return Refusal(401, "this endpoint needs a credential: send 'Authorization: Bearer <token>'")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not _CREDENTIAL.fullmatch(credential):
            return Refusal(401, "malformed credential: expected 'Authorization: Bearer <token>'")
        presented = _digest(credential.encode())
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(presented, digest)
        return None if matched else Refusal(403, "the token is not valid")


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()
