"""The Lua scripts of the Redis feature store (folder ``lua``), each with its shared helpers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Final

__all__ = [
    "APPLY_LABELS",
    "CLAIM_LABELS",
    "CLAIM_TRANSACTIONS",
    "RECORD_CUSTOMERS",
    "RECORD_TERMINALS",
    "LuaScript",
]


@dataclass(frozen=True)
class LuaScript:
    """A script of the ``lua`` folder: ``common.lua``, then ``helpers``, then its own file."""

    name: str
    helpers: tuple[str, ...] = ()
    source: str = field(init=False, repr=False)
    sha: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        folder = files("fraudcore.features").joinpath("lua")
        parts = ("common.lua", *self.helpers, self.name)
        source = "".join(folder.joinpath(part).read_text("utf-8") for part in parts)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "sha", hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest())


CLAIM_TRANSACTIONS: Final = LuaScript("claim_transactions.lua")
RECORD_CUSTOMERS: Final = LuaScript("record_customers.lua")
RECORD_TERMINALS: Final = LuaScript("record_terminals.lua", ("labels.lua",))
CLAIM_LABELS: Final = LuaScript("claim_labels.lua", ("labels.lua",))
APPLY_LABELS: Final = LuaScript("apply_labels.lua", ("labels.lua",))
