"""One pooled connection of a standalone Redis client, on which script calls are sent now and their
replies read later, in sending order.

redis-py's pipeline writes its commands and waits for their replies in one call, so a caller cannot
work while the server runs them. A :class:`ScriptLine` splits the two: :meth:`send` returns once
the calls are written, :meth:`receive` reads the replies of the earliest calls not yet read. Redis
runs the commands of one connection in the order they arrived, so calls sent on one line also run
in that order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from fraudcore.features.redis_calls import ScriptCall

__all__ = ["ScriptLine", "script_line"]


class ScriptLine:
    """Script calls written to one connection, their replies read in order (see the module doc)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._unread: deque[int] = deque()
        """How many replies each sent group of calls still owes, oldest first."""

    @property
    def idle(self) -> bool:
        """Whether every reply has been read (the connection may go back to its pool)."""
        return not self._unread

    async def send(self, calls: Sequence[ScriptCall]) -> None:
        """Write one ``EVALSHA`` per call; their replies come from a later :meth:`receive`."""
        commands = [("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args) for call in calls]
        await self._connection.send_packed_command(self._connection.pack_commands(commands))
        self._unread.append(len(calls))

    async def receive(self) -> list[object]:
        """The replies of the earliest group of calls not read yet; an error reply is returned as its
        exception (a ``NOSCRIPT`` one as :class:`~redis.exceptions.NoScriptError`)."""
        replies: list[object] = []
        for _ in range(self._unread.popleft()):
            try:
                replies.append(await self._connection.read_response())
            except ResponseError as error:
                replies.append(error)
        return replies


@asynccontextmanager
async def script_line(client: aioredis.Redis) -> AsyncIterator[ScriptLine]:
    """A line on a connection taken from ``client``'s pool, returned to it afterwards; a connection
    left with unread replies (an error, an early exit) is closed first, so none of them is read later
    as the answer to another command."""
    pool = client.connection_pool
    connection = cast(Connection, await pool.get_connection())  # type: ignore[no-untyped-call]
    line = ScriptLine(connection)
    try:
        yield line
    finally:
        try:
            if not line.idle:
                await connection.disconnect()
        finally:
            await pool.release(connection)
