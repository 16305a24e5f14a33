"""The online feature store: Redis, one Lua script call per batch.

Semantics are those of :mod:`fraudcore.features.definition`; this docstring specifies the key layout.
``{ns}`` is the store's namespace, ``<…>`` an id as given (any characters: a key ends with exactly one
id after a fixed prefix). Times are epoch milliseconds and amounts cents, written as decimal integers.

============================  ======  ================================================================
Key                           Type    Content
============================  ======  ================================================================
``{ns}:tx:<tx id>``           string  ``<t>|<cents>|<n>|<customer id><terminal id>``, ``n`` the byte
                                      length of the customer id. Set once (``SET NX``): it marks the
                                      transaction as recorded, and a redelivery is answered from it.
``{ns}:label:<tx id>``        string  ``<1 (fraud) or 0>|<labeled_at>``. Set once (``SET NX``): the
                                      first label is final.
``{ns}:cust:<customer id>``   zset    The customer's transactions, score the event time. Member:
                                      running count (10 digits), running cents (16 digits), own cents
                                      (10 digits), then the tx id. Running totals follow the set's
                                      order (score, then recording order, which the zero-padded
                                      running count gives among equal scores), so a window's count
                                      and cents are two differences of the last member at or below
                                      each bound. An out-of-order insert rewrites the later members.
                                      Totals start at 0 in an empty set (exact below 2**53 cents).
``{ns}:term:<terminal id>``   zset    The terminal's transactions: member the tx id, score the event
                                      time.
``{ns}:fraud:<terminal id>``  zset    The terminal's transactions labelled fraud: member
                                      ``<labeled_at>:<tx id>``, score the event time.
============================  ======  ================================================================

Writes. Recording a new transaction sets its ``tx`` key, adds it to its ``cust`` and ``term`` sets
and, if its ``label`` key says fraud, to its terminal's ``fraud`` set. Recording a fraud label of a
recorded transaction adds it to the ``fraud`` set of the terminal named in the ``tx`` key.

Pruning (``ZREMRANGEBYSCORE``), relative to the event time ``t`` of the transaction being added: the
``cust`` set drops members with score ``<= t - (max customer window + allowed lateness)`` on every
insert; the ``term`` set on every insert and the ``fraud`` set on every fraud added drop those
``<= t - (max terminal window + label delay + allowed lateness)``.

Expiry. A key gets ``EXPIRE key_ttl_s`` whenever it is written (``tx`` and ``label`` keys when set,
``cust`` and ``term`` on each insert, ``fraud`` on each fraud added), so idle keys vanish after
``key_ttl_s`` of wall-clock inactivity. A transaction redelivered after its ``tx`` key expired is
recorded again; ``key_ttl_s`` is at least the longest retention horizon, so only a redelivery that
late is affected.

Scripts (``lua/``). ``record_transactions.lua`` records or peeks a batch, ``record_labels.lua``
records labels; each runs once per batch by ``EVALSHA`` (``EVAL`` after ``NOSCRIPT``). The batch
travels as one length-prefixed string argument and the counts come back as one string of integers,
which keeps the client's encoding cost small. Window bounds, delay, horizons and TTL are arguments
taken from the :class:`~fraudcore.features.definition.FeatureSpec`, defined once, in Python. Peeking
runs the same script in a mode that writes nothing and keeps the batch's own additions and prunes in
Lua tables.

Redis Cluster. The scripts derive key names from the ids (no ``KEYS`` declared), which standalone
Redis and Sentinel accept. A batch touches keys of many customers, terminals and transactions, which
on a cluster live in many hash slots: there a caller would group the work by the slot of each key
name and the scripts would declare their keys. Each key's update depends only on that key and the
transaction's own facts (a label's, also on the terminal stored in the ``tx`` key), which such a
split needs; it is not built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Final, cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fraudcore.features.definition import DAY_MS, DEFAULT_SPEC, FeatureSpec, LabelFacts, TxFacts, WindowCounts
from fraudcore.features.store import FeatureStoreUnavailable

__all__ = ["RedisFeatureStore"]


@dataclass(frozen=True)
class _Script:
    """A Lua script of the ``lua`` folder, with the shared helpers prepended."""

    name: str
    source: str = field(init=False, repr=False)
    sha: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        folder = files("fraudcore.features").joinpath("lua")
        source = folder.joinpath("common.lua").read_text("utf-8") + folder.joinpath(self.name).read_text("utf-8")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "sha", hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest())


_TRANSACTIONS: Final = _Script("record_transactions.lua")
_MAX_CENTS: Final = 9_999_999_999
"""Largest amount the 10-digit field of a customer member holds (the events' limit is 10**8 cents)."""
_LABELS: Final = _Script("record_labels.lua")


class RedisFeatureStore:
    """A :class:`~fraudcore.features.store.FeatureStore` in Redis under the key prefix ``namespace:``.

    The store owns ``client``: :meth:`close` closes it. Give the client socket timeouts (see
    :meth:`from_url`) so an unreachable server raises
    :class:`~fraudcore.features.store.FeatureStoreUnavailable` instead of hanging.
    """

    def __init__(self, client: aioredis.Redis, spec: FeatureSpec = DEFAULT_SPEC, namespace: str = "fs") -> None:
        if not namespace:
            raise ValueError("namespace must not be empty")
        self.spec = spec
        self.namespace = namespace
        self._client = client
        self._nc, self._nt = len(spec.customer_windows_days), len(spec.terminal_windows_days)
        self._header: tuple[str | int, ...] = (
            namespace,
            spec.key_ttl_s,
            spec.customer_horizon_ms,
            spec.terminal_horizon_ms,
            spec.label_delay_days * DAY_MS,
            self._nc,
            *(w * DAY_MS for w in spec.customer_windows_days),
            self._nt,
            *(w * DAY_MS for w in spec.terminal_windows_days),
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        spec: FeatureSpec = DEFAULT_SPEC,
        namespace: str = "fs",
        *,
        timeout_s: float = 5.0,
    ) -> RedisFeatureStore:
        """A store on a new client for ``url`` with ``timeout_s`` connect and socket timeouts."""
        client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, spec, namespace)

    async def record_transactions(self, batch: Sequence[TxFacts]) -> list[WindowCounts]:
        return await self._transactions(batch, record=True)

    async def peek_transactions(self, batch: Sequence[TxFacts]) -> list[WindowCounts]:
        return await self._transactions(batch, record=False)

    async def record_labels(self, labels: Sequence[LabelFacts]) -> int:
        if not labels:
            return 0
        spec = self.spec
        args = (self.namespace, spec.key_ttl_s, spec.terminal_horizon_ms, _encode_labels(labels))
        return cast(int, await self._run(_LABELS, args))

    async def close(self) -> None:
        await self._client.aclose()

    async def _transactions(self, batch: Sequence[TxFacts], *, record: bool) -> list[WindowCounts]:
        if not batch:
            return []
        mode = "1" if record else "0"
        reply = cast(bytes | str, await self._run(_TRANSACTIONS, (mode, *self._header, _encode_transactions(batch))))
        flat = list(map(int, reply.split(b",") if isinstance(reply, bytes) else reply.split(",")))
        nc, nt = self._nc, self._nt
        width = 2 * (nc + nt)
        if len(flat) != width * len(batch):
            raise RuntimeError(f"feature script returned {len(flat)} integers for {len(batch)} transactions")
        return [
            WindowCounts(
                tuple(flat[at : at + nc]),
                tuple(flat[at + nc : at + 2 * nc]),
                tuple(flat[at + 2 * nc : at + 2 * nc + nt]),
                tuple(flat[at + 2 * nc + nt : at + width]),
            )
            for at in range(0, len(flat), width)
        ]

    async def _run(self, script: _Script, args: tuple[str | int | bytes, ...]) -> object:
        try:
            try:
                return await self._client.evalsha(script.sha, 0, *args)
            except NoScriptError:
                return await self._client.eval(script.source, 0, *args)
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise FeatureStoreUnavailable(f"Redis is unavailable: {error}") from error


def _encode_transactions(batch: Sequence[TxFacts]) -> bytes:
    """The batch argument of ``record_transactions.lua``: per transaction
    ``<t>,<cents>,<id length>,<customer length>,<terminal length>,<id><customer><terminal>``."""
    parts = []
    for tx in batch:
        if not 0 <= tx.amount_cents <= _MAX_CENTS:
            raise ValueError(f"transaction {tx.transaction_id!r}: amount_cents must be within [0, {_MAX_CENTS}]")
        tx_id, customer, terminal = tx.transaction_id.encode(), tx.customer_id.encode(), tx.terminal_id.encode()
        head = (tx.event_time_ms, tx.amount_cents, len(tx_id), len(customer), len(terminal))
        parts.append(b"%d,%d,%d,%d,%d,%s%s%s" % (*head, tx_id, customer, terminal))
    return b"".join(parts)


def _encode_labels(labels: Sequence[LabelFacts]) -> bytes:
    """The batch argument of ``record_labels.lua``: per label ``<1 or 0>,<labeled_at>,<id length>,<id>``."""
    parts = []
    for label in labels:
        tx_id = label.transaction_id.encode()
        parts.append(b"%d,%d,%d,%s" % (label.is_fraud, label.labeled_at_ms, len(tx_id), tx_id))
    return b"".join(parts)
