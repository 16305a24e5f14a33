"""The online feature store: Redis or Redis Cluster, a few Lua script calls per batch.

Semantics are those of :mod:`fraudcore.features.definition`; this docstring specifies the key layout.
``<ns>`` is the store's namespace (no ``{`` or ``}``), ``<…>`` an id as given (any characters: a key
ends with exactly one id after a fixed prefix), ``<tag>`` the hash tag of a slot bucket (see
:mod:`fraudcore.features.buckets`: ``{<n>}``, the same for every key of one bucket, so all of them
hash to one cluster slot). Times are epoch milliseconds, amounts cents, tiles ``t // tile_ms`` and
days ``t // 86_400_000``, written as decimal integers (except in the binary tile strings). State is
bounded by the entities and the windows: nothing is kept per transaction beyond the claim horizon,
except fraud label records. (The kinds differ from those of the earlier layouts, whose ``cust``,
``term``, ``fraud``, ``tx``, ``label`` and ``held`` keys the store neither reads nor writes: delete
them, or let them expire. Nor does it read the ``claim``, ``ctiles`` and ``ttiles`` keys of the first
tiled layout (claims looked up in every claim day, tiles as MessagePack arrays): after upgrading
from it, the windows start empty, and for a claim horizon a transaction recorded before is not
recognised when delivered again, and a label for it not yet past its claim horizon is held, then
dropped.)

=====================================  ======  =========================================================
Key                                    Type    Content
=====================================  ======  =========================================================
``<ns>:csums:<tag>:<customer id>``     string  The customer's tiles, binary (big-endian signed
                                               integers): a header ``count`` (5 bytes), ``cents``
                                               (8), the sums of the tiles dropped; then per tile
                                               holding transactions, in tile order, ``tile`` (4),
                                               and the running ``count``, ``cents`` of the tiles up
                                               to it. Tag of the customer id.
``<ns>:tsums:<tag>:<terminal id>``     string  The terminal's tiles: the same without cents (header
                                               ``count``; per tile ``tile``, running ``count``).
                                               Tag of the terminal id.
``<ns>:frauds:<tag>:<terminal id>``    hash    The terminal's frauds: field ``<tile>:<labeled_at>``,
                                               value how many of its transactions of that tile have
                                               that fraud label as their winning label. Tag of the
                                               terminal id.
``<ns>:claims:<tag>``                  hash    Claims of the bucket's transactions (tag of the tx id):
                                               field the tx id, value
                                               ``<label>;<t>|<cents>|<n>|<customer id><terminal id>``
                                               (``n`` the byte length of the customer id; ``label``
                                               the one held for it when it was claimed, or empty). A
                                               claim whose day is below the claim floor is gone: read
                                               as absent, and deleted soon (see below).
``<ns>:cday:<tag>``, ``…:<day>``       zset,   The claims' days: per event-time day a list of the ids
                                       list    claimed that day (in claim order); the index (zset)
                                               lists the days whose list is not drained yet (member and
                                               score the day) and ``floor``, scored with the first
                                               day kept (the claim floor).
``<ns>:cmark:<tag>``, ``…:<day>``      zset,   Per customer bucket, the transactions added to their
                                       hash    customer's tiles (field the tx id, value ``<count>:<cents>``
                                               of its tile just after it was added), by
                                               event-time day: a hash per day, indexed as the claims'
                                               days.
``<ns>:tmark:<tag>``, ``…:<day>``      zset,   The same per terminal bucket, for the terminal tiles
                                       hash    (value ``1``).
``<ns>:lrec:<tag>``, ``…:<day>``       zset,   Per terminal bucket, the label records: field the tx
                                       hash    id, value ``<1 or 0>|<labeled_at>``, the transaction's
                                               winning label when it is fraud, or genuine and replaced
                                               a recorded fraud one; by day of the transaction's event
                                               time, indexed as the claims' days.
``<ns>:hold:<tag>``                    hash    Labels of transactions not recorded yet: field the tx
                                               id, value ``<1 or 0>|<labeled_at>``, then
                                               ``|<transaction time>`` when the label carries it. At most
                                               ``held_labels_per_bucket`` fields (a label beyond is
                                               refused); a field moves into the claim when the
                                               transaction is claimed (dropped if dated before it).
                                               Tag of the tx id's bucket.
=====================================  ======  =========================================================

Day records (marks, label records) are dropped a whole day at a time: a script that writes for a
transaction at ``t`` first drops the days of the bucket before ``day(b - horizon)``, ``b = min(t,
clock)`` (the claim horizon for marks, the terminal horizon for label records), raises the index's
``floor`` to it, and deletes the day hashes. Claims follow the same floor (the claim horizon), but a
claim is a field of its bucket's one hash, so it is found by one lookup whatever the days held: phase
A raises the floor, then deletes the claims listed in the days below it, at most ``max(256, 2 x its
rows)`` per bucket and call, oldest day first (popping them from their day's list, and keeping a claim
made again since in a later day); a day leaves the index when its list is empty. A tile is dropped
when its key is written: customer tiles ``<= tile(b - customer horizon)``, terminal tiles and fraud
fields ``<= tile(b - terminal horizon)``. Memory is thus flat in event time: a fast replay of months
of history keeps what 30-odd days of traffic need, whatever the wall clock.

Phases. Every script call touches the keys of one bucket only (on standalone Redis the calls of a
phase are merged into one, which changes nothing but the cost). Entity hashes, claims hashes and day
indexes are declared in ``KEYS``; day hashes and day lists are named after their index (same tag). A
script reads each tile string once per call and writes it back once at its end; in between a row's
change is a splice of the string (a new tile appended, the last one rewritten, the dropped ones cut
off: the header takes their sums), and a row's window counts are the running sums at a few binary
searches over the records' tiles, with no pass over the tiles and no decoding (a MessagePack array
per key, decoded, re-summed and re-encoded per row, cost 1.7 times the Redis CPU of phases B and C;
a hash of tile fields far more: every field a Lua string to parse on each read; BENCHMARKS.md).
Running sums keep growing with the key's life; a prune whose dropped sums pass 2^36 transactions or
2^50 cents rewrites the records relative to the first one kept, so they stay exact and within their
widths. A script reads a fraud hash once (``HGETALL``) and keeps it in step with its writes; per
fraud hash, its fields sorted by tile with running sums, less those labelled after the row's time
(found in the fields sorted by labeled_at), rebuilt after the hash changes. Recording (or peeking) a
batch runs

A. per tx bucket, ``claim_transactions.lua``: look the id up in the bucket's claims; unclaimed, claim
   it and list it in the day of its event time, taking the label held for it into the claim (the
   caller compares an earlier claim's value with its own and turns a different one into a conflict,
   left out of B and C). An unclaimed transaction whose day is below the claim floor is past the claim
   horizon: it may be a redelivery whose claim was dropped, so it is not claimed nor added (it gets
   the counts of what is recorded);
B. per customer bucket, ``record_customers.lua``: add each transaction to its customer's tile (in
   batch order, a later one sees the earlier ones) and mark it, then count its customer windows;
C. per terminal bucket, ``record_terminals.lua``: the same for its terminal's tile; then apply the
   label its claim carries (as labels phase 2 does), then count its terminal windows.

B and C depend on A only and go out together: two round trips per batch. Recording labels runs
1. per tx bucket, ``claim_labels.lua``: find what each label joins on: the claim while it exists (its
facts win), else, when the label's transaction is past the claim horizon (the day of the
``transaction_time`` it carries below the claim floor), the terminal and event time it carries; a
label that carries them within the horizon is held (if it wins over one held, within the bound); a
label without them is refused (``unjoinable``) when the bucket has a claim floor, held before the
bucket's first transaction. Phase A drops (and counts in ``held_labels_dropped``) the held labels
whose transaction time (else ``labeled_at``) falls below the claim floor when it moves. A label
dated before its transaction is refused. 2. per terminal bucket, ``apply_labels.lua``: when the
joined label wins over the transaction's label record (the latest ``labeled_at``; fraud over genuine
at equal ``labeled_at``), update the record and move the transaction's fraud count from the old
record's field to the new one's. A label joined on its own terminal and time that does not replace a
fraud record is refused (``no_transaction``) unless the terminal's tiles hold more transactions in
that tile than its fraud fields of that tile count. A genuine label over no record stores nothing,
so an older fraud label arriving after it counts. Label rules, and why a label may be held: labels
arrive days after their transaction in practice, but a backfill can feed the labels topic ahead of
the transactions; the bound keeps a flood of forged labels for made-up ids to ``48 *
held_labels_per_bucket`` small hash fields, and a label refused at the bound goes to the dead-letter
topic, from which it can be replayed. A held label found dated before its transaction when that
arrives is dropped (the transaction is scored as unlabelled); phase A says so (``d`` for its label),
and the store counts it in ``held_labels_dropped``.

Crashes between phases. Each phase is idempotent on its own, so a worker that dies between them and
the redelivered batch lose nothing. B and C add a transaction claimed now; one claimed before (a
redelivery) only when not marked in its day and that day is not below the mark floor (below it, it
was added and its mark dropped). Applying a label is idempotent (the record says what is counted),
so phase 2 and C may run again. A redelivery thus writes nothing after a completed first delivery;
it gets the counts of what is recorded then, which includes the transactions recorded after it in
its own tile (their order inside a tile is not kept).

Refusals. Redis may refuse a call for a while (``OOM`` at ``maxmemory`` under ``noeviction``,
``BUSY``, ``LOADING``, ``READONLY`` after a failover...: :mod:`fraudcore.features.redis_refusals`);
the store then raises :class:`~fraudcore.features.store.FeatureStoreUnavailable` with the refusal's
kind, and the caller retries the batch as after a crash between phases. A refusal never cuts a
script call in half: Redis refuses a call before it runs, or at its first write (``OOM``, ``READONLY``),
and lets a call that has written run to its end (even ``SCRIPT KILL`` cannot stop it then). So a
refused phase wrote nothing, the phases before it are complete, and the retry adds what is missing.

The clock. ``b = min(t, clock)``, ``clock`` the stream's event-time clock the caller passes with the
batch (``b = t`` without one): a transaction forged far ahead of the stream prunes and drops no more
than an honest one at the clock would. The scorer refuses transactions more than the claim horizon
behind its clock, so the ones a worker records are not below the claim floor its own clock sets; the
floor is shared per bucket, so with workers whose clocks differ by more than the slack of a day, one
behind may send a transaction whose day another's rows put below the floor: it is then not claimed
nor added (``s``), and gets the counts of what is recorded. A claim a row makes in a day that a later
row of the same call puts below the floor is not written (it would be dead at once).

Expiry. A key gets ``EXPIRE key_ttl_s`` at the end of each script call that wrote it, a safety net
for idle keys (a card that stops paying); retention itself follows event time, as above.

Redis Cluster. The same store and scripts serve standalone Redis, Sentinel and a cluster: only the
client differs (:func:`~fraudcore.features.open_store.open_feature_store`, ``FRAUD_REDIS_CLUSTER``).
No call crosses slots, so no script needs ``allow-cross-slot-keys``. While a bucket's slot migrates
between masters, Redis refuses a call whose declared keys moved (``ASK``, ``TRYAGAIN``), and fails a
script at the first day hash or list that moved ("non local key"); each recording script therefore
touches every day hash or list it may read, write, pop or drop before its first write, so that failure
comes before any write (labels phase 1 touches declared keys only), and the claims of a bucket are
deleted after its new claims are written, at the end of the call, so its claims hash does not
empty while the call still has a command for it. Both are refusals of kind ``cluster_resharding``:
the caller retries the batch until the slot has moved. Known limit: a held-labels hash or a fraud
hash emptied by a call (its last field taken or deleted) and used again later in the same call,
while its slot migrates, fails that call after its first write; the retry then misses what the
failed call had done to it (a held label taken, a fraud count moved) and may count a label as new
instead of corrected. The buckets spread the
keys evenly over the masters; a batch of ``n`` rows costs up to ``min(n, BUCKETS)`` calls per phase
there.

Calls. A phase's calls go out in one pipeline of ``EVALSHA`` (scripts loaded on ``NOSCRIPT``); on a
cluster redis-py sends each node its share concurrently. The tile scripts take their rows as one
length-prefixed string argument (ids, and indexes into ``KEYS``) and return their counts as one string
of integers; the claim scripts take a few values per row and return two strings per row.
Window widths (in tiles), delay, horizons and TTL are arguments taken from the
:class:`~fraudcore.features.definition.FeatureSpec`, defined once, in Python. Peeking runs the same
scripts in a mode that writes nothing and keeps the batch's own changes in the script's tables.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from fraudcore.features.definition import (
    DEFAULT_SPEC,
    Conflict,
    FeatureSpec,
    LabelFacts,
    LabelOutcome,
    TxFacts,
    WindowCounts,
)
from fraudcore.features.redis_calls import (
    Claim,
    KeyLayout,
    ScriptCall,
    apply_calls,
    claim_calls,
    customer_calls,
    label_claim_calls,
    read_applied,
    read_claims,
    read_counts,
    read_label_claims,
    terminal_calls,
)
from fraudcore.features.redis_line import script_line
from fraudcore.features.redis_refusals import unavailability
from fraudcore.features.scripts import CLAIM_TRANSACTIONS, RECORD_CUSTOMERS, RECORD_TERMINALS
from fraudcore.features.store import FeatureStoreUnavailable

__all__ = ["RedisClient", "RedisFeatureStore"]

RedisClient = aioredis.Redis | RedisCluster
"""A standalone (or Sentinel-managed) Redis client, or a Redis Cluster client."""


class RedisFeatureStore:
    """A :class:`~fraudcore.features.store.FeatureStore` in Redis under the key prefix ``namespace:``.

    The store owns ``client``: :meth:`close` closes it. Give the client socket timeouts (see
    :func:`~fraudcore.features.open_store.open_feature_store`) so an unreachable server raises
    :class:`~fraudcore.features.store.FeatureStoreUnavailable` instead of hanging. ``per_bucket``
    sends one script call per bucket and phase; unset, it is true for a cluster client only.
    """

    def __init__(
        self,
        client: RedisClient,
        spec: FeatureSpec = DEFAULT_SPEC,
        namespace: str = "fs",
        *,
        per_bucket: bool | None = None,
    ) -> None:
        self.spec = spec
        self.namespace = namespace
        self._layout = KeyLayout(namespace)
        self._client = client
        self._per_bucket = isinstance(client, RedisCluster) if per_bucket is None else per_bucket
        self._nc, self._nt = len(spec.customer_windows_days), len(spec.terminal_windows_days)
        self.held_labels_dropped = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        spec: FeatureSpec = DEFAULT_SPEC,
        namespace: str = "fs",
        *,
        timeout_s: float = 5.0,
    ) -> RedisFeatureStore:
        """A store on a new standalone client for ``url`` with ``timeout_s`` connect and socket timeouts."""
        client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, spec, namespace)

    async def record_transactions(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        return await self._transactions(batch, record=True, clock_ms=clock_ms)

    async def peek_transactions(
        self, batch: Sequence[TxFacts], *, clock_ms: int | None = None
    ) -> list[WindowCounts | Conflict]:
        return await self._transactions(batch, record=False, clock_ms=clock_ms)

    async def record_labels(self, labels: Sequence[LabelFacts], *, clock_ms: int | None = None) -> list[LabelOutcome]:
        if not labels:
            return []
        calls = label_claim_calls(self._layout, labels, self.spec, per_bucket=self._per_bucket)
        decided, joins = read_label_claims(labels, calls, await self._run(calls))
        applied = apply_calls(self._layout, joins, self.spec, per_bucket=self._per_bucket, clock_ms=clock_ms)
        return read_applied(decided, joins, applied, await self._run(applied) if applied else [])

    @property
    def counts_ahead(self) -> bool:
        """True on standalone Redis (see :meth:`_overlapped`); a cluster records one chunk at a time."""
        return not self._per_bucket and isinstance(self._client, aioredis.Redis)

    async def record_chunks(
        self, chunks: Sequence[Sequence[TxFacts]], *, clock_ms: int | None = None
    ) -> AsyncGenerator[list[WindowCounts | Conflict], None]:
        """:meth:`record_transactions` of each chunk in turn, yielding each one's counts.

        On standalone Redis the server counts the next chunk while the caller uses the counts of this
        one (see :meth:`_overlapped`); a cluster records one chunk at a time. After a ``NOSCRIPT`` the
        scripts are loaded and the chunks not yielded yet are recorded again (recording is idempotent).
        """
        done, reloaded_at = 0, -1
        while done < len(chunks):
            rest = chunks[done:]
            stream = self._overlapped(rest, clock_ms) if self.counts_ahead else self._one_by_one(rest, clock_ms)
            try:
                if reloaded_at == done:
                    for script in (CLAIM_TRANSACTIONS, RECORD_CUSTOMERS, RECORD_TERMINALS):
                        await self._client.script_load(script.source)
                async with aclosing(stream) as counted:
                    async for counts in counted:
                        done += 1
                        yield counts
            except _ScriptsMissing as missing:
                if reloaded_at == done:
                    raise RuntimeError("Redis lost the feature scripts again right after loading them") from missing
                reloaded_at = done
            except (RedisError, RedisClusterException) as error:
                _raise_if_unavailable(error)
                raise

    async def _one_by_one(
        self, chunks: Sequence[Sequence[TxFacts]], clock_ms: int | None
    ) -> AsyncGenerator[list[WindowCounts | Conflict], None]:
        for chunk in chunks:
            yield await self.record_transactions(chunk, clock_ms=clock_ms)

    async def _overlapped(
        self, chunks: Sequence[Sequence[TxFacts]], clock_ms: int | None
    ) -> AsyncGenerator[list[WindowCounts | Conflict], None]:
        """Record ``chunks`` on one connection of a standalone client, one step ahead of the caller.

        Per chunk: send its phase A; read the previous chunk's phases B and C, then this phase A (the
        server runs them in that order: they touch different keys); send this chunk's B and C; only
        then yield the previous chunk's counts. Phases B and C of a chunk therefore run after those
        of every earlier chunk, as :meth:`record_transactions` in a loop would run them.
        """
        assert isinstance(self._client, aioredis.Redis)
        async with script_line(self._client) as line:
            ahead: tuple[list[Claim | Conflict], tuple[list[ScriptCall], list[ScriptCall]]] | None = None
            for chunk in chunks:
                claim = claim_calls(self._layout, chunk, self.spec, record=True, per_bucket=False, clock_ms=clock_ms)
                await line.send(claim)
                previous = None if ahead is None else self._answers(*ahead, _checked(await line.receive()))
                claims = self._count_dropped(*read_claims(chunk, claim, _checked(await line.receive())))
                count = self._count_calls(_claimed(claims), record=True, clock_ms=clock_ms)
                await line.send([*count[0], *count[1]])
                if previous is not None:
                    yield previous
                ahead = (claims, count)
            if ahead is not None:
                yield self._answers(*ahead, _checked(await line.receive()))

    async def close(self) -> None:
        await self._client.aclose()

    async def _transactions(
        self, batch: Sequence[TxFacts], *, record: bool, clock_ms: int | None
    ) -> list[WindowCounts | Conflict]:
        if not batch:
            return []
        claims = await self._claim(batch, record=record, clock_ms=clock_ms)
        calls = self._count_calls(_claimed(claims), record=record, clock_ms=clock_ms)
        return self._answers(claims, calls, await self._run([*calls[0], *calls[1]]))

    async def _claim(self, batch: Sequence[TxFacts], *, record: bool, clock_ms: int | None) -> list[Claim | Conflict]:
        """Phase A."""
        calls = claim_calls(
            self._layout, batch, self.spec, record=record, per_bucket=self._per_bucket, clock_ms=clock_ms
        )
        return self._count_dropped(*read_claims(batch, calls, await self._run(calls)))

    def _count_dropped(self, claims: list[Claim | Conflict], expired: int) -> list[Claim | Conflict]:
        """``claims``, after counting the held labels they dropped (and the ``expired`` ones) in
        :attr:`held_labels_dropped`."""
        self.held_labels_dropped += expired + sum(
            1 for claim in claims if isinstance(claim, Claim) and claim.dropped_label
        )
        return claims

    def _answers(
        self,
        claims: Sequence[Claim | Conflict],
        calls: tuple[list[ScriptCall], list[ScriptCall]],
        replies: Sequence[object],
    ) -> list[WindowCounts | Conflict]:
        """Per row of a batch its conflict, or its counts from the replies of phases B and C."""
        counted = iter(self._read_window_counts(len(_claimed(claims)), calls, replies))
        return [claim if isinstance(claim, Conflict) else next(counted) for claim in claims]

    def _count_calls(
        self, claims: Sequence[Claim], *, record: bool, clock_ms: int | None
    ) -> tuple[list[ScriptCall], list[ScriptCall]]:
        """The calls of phases B (customers) and C (terminals)."""
        layout, spec, per_bucket = self._layout, self.spec, self._per_bucket
        return (
            customer_calls(layout, claims, spec, record=record, per_bucket=per_bucket, clock_ms=clock_ms),
            terminal_calls(layout, claims, spec, record=record, per_bucket=per_bucket, clock_ms=clock_ms),
        )

    def _read_window_counts(
        self, rows: int, calls: tuple[list[ScriptCall], list[ScriptCall]], replies: Sequence[object]
    ) -> list[WindowCounts]:
        """The counts of ``rows`` transactions from the replies of :meth:`_count_calls`' calls."""
        customers, terminals = calls
        nc, nt = self._nc, self._nt
        by_customer = read_counts(rows, 2 * nc, customers, replies[: len(customers)])
        by_terminal = read_counts(rows, 2 * nt, terminals, replies[len(customers) :])
        return [
            WindowCounts(tuple(c[:nc]), tuple(c[nc:]), tuple(t[:nt]), tuple(t[nt:]))
            for c, t in zip(by_customer, by_terminal, strict=True)
        ]

    async def _run(self, calls: Sequence[ScriptCall]) -> list[object]:
        """The replies of ``calls``, sent in one pipeline; scripts missing on a server are loaded and
        their calls sent again (a ``NOSCRIPT`` call did not run)."""
        try:
            replies = await self._pipeline(calls)
            missing = [at for at, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:
                for script in {calls[at].script.name: calls[at].script for at in missing}.values():
                    await self._client.script_load(script.source)
                for at, reply in zip(missing, await self._pipeline([calls[at] for at in missing]), strict=True):
                    replies[at] = reply
        except (RedisError, RedisClusterException) as error:
            _raise_if_unavailable(error)
            raise
        for reply in replies:
            if isinstance(reply, Exception):
                _raise_if_unavailable(reply)
                raise reply
        return replies

    async def _pipeline(self, calls: Sequence[ScriptCall]) -> list[object]:
        pipe = self._client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
        replies: list[object] = await pipe.execute(raise_on_error=False)
        return replies


def _claimed(claims: Sequence[Claim | Conflict]) -> list[Claim]:
    """The claims that are not conflicts, in order."""
    return [claim for claim in claims if isinstance(claim, Claim)]


class _ScriptsMissing(Exception):
    """A reply said ``NOSCRIPT``: the server lacks the scripts (it restarted, or was flushed)."""


def _checked(replies: list[object]) -> list[object]:
    """``replies``, or the error the first error reply means."""
    for reply in replies:
        if isinstance(reply, NoScriptError):
            raise _ScriptsMissing from reply
        if isinstance(reply, Exception):
            raise reply
    return replies


def _raise_if_unavailable(error: Exception) -> None:
    """Raise :class:`FeatureStoreUnavailable` when ``error`` says Redis is away or refuses work for now
    (see :mod:`fraudcore.features.redis_refusals`)."""
    kind = unavailability(error)
    if kind is not None:
        raise FeatureStoreUnavailable(
            f"Redis is unavailable ({kind}): {type(error).__name__}: {error}", kind
        ) from error
