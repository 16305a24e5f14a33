"""Help texts from module docstrings: the reStructuredText markup a terminal would show as is removed."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["plain"]

_ROLE: Final = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL: Final = re.compile(r"``([^`]+)``")


def plain(text: str | None) -> str:
    """``text`` with inline literals (````x````) and roles (``:class:`x```) as their bare text."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text or ""))
