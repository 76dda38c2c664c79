"""RedisStream: the writer's side of the stream (read a batch, remember it, acknowledge it).

A batch's range is recorded (``writer_inflight``) before it is inserted, so after a crash the
very same range is read again (XRANGE) and re-inserted with the very same deduplication token.
Entries a crash left pending without a recorded range were never inserted, so any grouping works.
One writer per pool at a time: it holds a lease in Redis, so several meter processes (a
ClickHouse server, N processes behind a load balancer) can all run one and only one writes.

The writer shares the event loop with the hot path, so no step of it holds the loop for long:
entries are read ``SLICE`` at a time (each reply parsed on its own), then decoded and turned into
rows with a turn of the loop every ``SLICE`` entries. A check that arrives meanwhile waits for one
slice, not for a whole batch. Reading stops once a batch holds its rows' worth, whatever its
entries: its memory follows its rows.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as redis
from redis import exceptions as rex

from meter.ledger import scripts
from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys
from meter.ledger.replication import Replication

GROUP = "writer"
CONSUMER = "writer-1"  # one writer per pool: the process that owns the store
SLICE = 25  # entries read, decoded or turned into rows between two turns of the event loop


@dataclass(frozen=True)
class Usage:
    """Usage facts a ledger script appended (decide.lua, reservation.lua): the writer builds their
    rows (``store.rows.usage_rows``). ``facts``: a JSON array of [metric, signatory, dataset,
    amount, check_keys]; ``at_ms``: the script's time; ``ref``: what the rows' ids start with
    (the script's name for the entry, else the entry's id)."""

    facts: bytes
    at_ms: int
    ref: str


@dataclass(frozen=True)
class Entry:
    id: str
    table: str
    n: int
    rows: bytes  # JSONEachRow lines, or b'' when ``usage`` carries facts instead
    usage: Usage | None = None


@dataclass(frozen=True)
class Batch:
    entries: list[Entry]

    @property
    def first(self) -> str:
        return self.entries[0].id

    @property
    def last(self) -> str:
        return self.entries[-1].id

    @property
    def events(self) -> int:
        return sum(e.n for e in self.entries)

    async def by_table(self, rows_of: Callable[[Entry], bytes] = lambda e: e.rows) -> dict[str, bytes]:
        """Each table's rows, in stream order; ``rows_of`` builds an entry's rows (from its facts).
        The loop gets a turn every ``SLICE`` entries."""
        tables: dict[str, list[bytes]] = {}
        for n, e in enumerate(self.entries, 1):
            tables.setdefault(e.table, []).append(rows_of(e))
            if n % SLICE == 0:
                await asyncio.sleep(0)
        return {t: b"\n".join(parts) for t, parts in tables.items()}


USAGE_TABLE = "events"  # where the rows of usage facts go


async def _decode(raw: list[Any]) -> list[Entry]:
    """The entries of an XRANGE or XREADGROUP reply; the loop gets a turn every ``SLICE``."""
    out = []
    for n, (entry_id, fields) in enumerate(raw, 1):
        if n % SLICE == 0:
            await asyncio.sleep(0)
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        facts = fields.get(b"usage")
        if facts is not None:
            usage = Usage(facts, int(fields[b"t"]), as_text(fields.get(b"ref", b"")) or eid)
            out.append(Entry(eid, USAGE_TABLE, int(fields[b"n"]), b"", usage))
        else:
            out.append(Entry(eid, fields[b"table"].decode(), int(fields[b"n"]), fields[b"rows"]))
    return out


async def read_backlog(client: redis.Redis, keys: Keys) -> int:
    """Events in the stream not yet written to ClickHouse."""
    async with translated("backlog"):
        return int(await client.get(keys.backlog) or 0)


def queue_history_row(pipe: Any, keys: Keys, table: str, row: bytes) -> None:
    """Queue one history row for the writer in a caller's MULTI: it reaches ClickHouse exactly when
    the change it records is made (registry changes, allocations)."""
    pipe.xadd(keys.stream, {"table": table, "n": 1, "rows": row})
    pipe.incrby(keys.backlog, 1)


class RedisStream:
    def __init__(self, client: redis.Redis, keys: Keys, replication: Replication | None = None) -> None:
        self.client = client
        self.keys = keys
        self.replication = replication or Replication(client)
        self._lease = client.register_script(scripts.source("lease"))

    async def lease(self, token: str, ttl_ms: int) -> bool:
        """Hold the writer's lease: one writer per pool, whichever process it runs in."""
        async with translated("writer lease"):
            return bool(await self._lease(keys=[self.keys.lock("writer")], args=[token, ttl_ms]))

    async def ensure_group(self) -> None:
        async with translated("stream group"):
            try:
                await self.client.xgroup_create(self.keys.stream, GROUP, id="0", mkstream=True)
            except rex.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def next_batch(self, count: int, block_ms: int, max_rows: int = 1_000_000) -> Batch | None:
        """The batch to insert now: the one in flight at a crash, else pending, else new entries
        (up to ``count`` entries, and no more reads once ``max_rows`` rows are in)."""
        async with translated("stream read"):
            inflight = await self.client.get(self.keys.writer_inflight)
            if inflight:
                first, last = as_text(inflight).split(" ")
                entries = await _decode(cast(list[Any], await self.client.xrange(self.keys.stream, first, last)))
                return Batch(entries) if entries else None
            entries = await self._read_slices("0", count, None, max_rows) \
                or await self._read_slices(">", count, block_ms, max_rows)
            if not entries:
                return None
            batch = Batch(entries)
            # on the replicas before the insert: a failover must not forget a range that was inserted
            # (its entries would be read again in other batches, with other deduplication tokens)
            await self.replication.command(self.keys.writer_inflight, "SET", self.keys.writer_inflight,
                                           f"{batch.first} {batch.last}")
            return batch

    async def _read_slices(self, start: str, count: int, block_ms: int | None, max_rows: int) -> list[Entry]:
        """Up to ``count`` entries, ``SLICE`` a read, and no more reads once ``max_rows`` rows are in
        (an entry holds 1 to 10,000 rows: a batch's memory follows its rows, whatever its entries).
        New entries (``>``): the first read waits up to ``block_ms``, the next ones take what is
        there. Pending ones (``0``: read before a crash, never inserted): each read goes on after
        the last entry read. One consumer reads, so the slices are contiguous in the stream and the
        batch's range (first to last) holds exactly its entries."""
        entries: list[Entry] = []
        rows = 0
        wait = block_ms
        while len(entries) < count and rows < max_rows:
            asked = min(SLICE, count - len(entries))
            read = await self._read(start, asked, wait)
            entries += read
            rows += sum(e.n for e in read)
            if len(read) < asked:  # the stream (or the pending list) has no more for now
                break
            wait = None
            if start != ">":
                start = read[-1].id
        return entries

    async def _read(self, start: str, count: int, block_ms: int | None) -> list[Entry]:
        try:
            reply = await self.client.xreadgroup(GROUP, CONSUMER, {self.keys.stream: start}, count=count,
                                                 block=block_ms)
        except rex.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        if not reply:
            return []
        return await _decode(cast(Any, reply)[0][1])

    async def ack(self, batch: Batch) -> None:
        """Acknowledge, delete and forget the batch, and shrink the backlog, in one transaction."""
        ids = [e.id for e in batch.entries]
        async with translated("stream ack"):
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.keys.stream, GROUP, *ids)
            pipe.xdel(self.keys.stream, *ids)
            pipe.decrby(self.keys.backlog, batch.events)
            pipe.delete(self.keys.writer_inflight)
            await pipe.execute()

    async def backlog(self) -> int:
        return await read_backlog(self.client, self.keys)

    async def waiting_before(self, before_ms: int) -> bool:
        """Whether an entry older than ``before_ms`` still waits for the writer (written entries are
        deleted; an entry's id starts with its time in milliseconds)."""
        async with translated("stream"):
            return bool(await self.client.xrange(self.keys.stream, "-", str(before_ms - 1), count=1))
