"""Keeping credentials written into URLs (``scheme://user:password@host``) out of what is printed."""

from __future__ import annotations

import re

__all__ = ["redact_urls"]

_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def redact_urls(text: str) -> str:
    """``text`` with the ``user:password@`` part of every URL in it replaced by ``***@``."""
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)
