"""RegistryStore: the signatory registry in Redis (``meter/registry/service.py`` decides what changes).

The layout: each record as JSON in ``keys.signatories`` (id -> record), every id ever registered
in ``keys.signatory_ids`` (event attribution; ingest.lua reads it) and the host index
``keys.hosts`` (host -> id; decide.lua and attribute.lua read it). A change is one WATCH/MULTI
transaction on the records and the host index (``transaction``): it reads what it needs through
a ``RegistryTxn``, then commits the new records, the host index and the history rows (for the
writer's stream) in one MULTI, so the registry and its history never disagree, and two admins
changing signatories at once retry instead of leaving a host claimed twice.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import orjson
import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys
from meter.ledger.stream import queue_history_row

Record = dict[str, Any]
T = TypeVar("T")


def queue_record(pipe: Pipeline, keys: Keys, record: Record, raw: bytes | None = None) -> None:
    """Queue one signatory's record, its id and its hosts (the layout the scripts read)."""
    pipe.hset(keys.signatories, record["id"], raw if raw is not None else orjson.dumps(record))
    pipe.sadd(keys.signatory_ids, record["id"])
    if record.get("hosts"):
        pipe.hset(keys.hosts, mapping={h: record["id"] for h in record["hosts"]})


class RegistryTxn:
    """What one registry transaction reads (watched) and commits (one MULTI)."""

    def __init__(self, pipe: Pipeline, keys: Keys) -> None:
        self._pipe, self._keys = pipe, keys

    async def records(self, ids: Sequence[str]) -> dict[str, Record | None]:
        if not ids:
            return {}
        raw = await self._pipe.hmget(self._keys.signatories, list(ids))
        return {sid: (orjson.loads(v) if v is not None else None) for sid, v in zip(ids, raw)}

    async def host_owners(self, hosts: Sequence[str]) -> dict[str, str]:
        """host -> the id that holds it, for those of ``hosts`` that are held."""
        if not hosts:
            return {}
        owners = await self._pipe.hmget(self._keys.hosts, list(hosts))
        return {h: as_text(o) for h, o in zip(hosts, owners) if o is not None}

    def commit(self, dropped_hosts: Sequence[str], records: Sequence[Record], table: str,
               history: Sequence[bytes]) -> None:
        """Drop ``dropped_hosts`` first (a host may move between records), then write every record and
        its hosts, and queue the history rows of ``table``: all in one MULTI."""
        pipe = self._pipe
        cast(Any, pipe).multi()  # (redis-py leaves multi() untyped)
        if dropped_hosts:
            pipe.hdel(self._keys.hosts, *dropped_hosts)
        for record in records:
            queue_record(pipe, self._keys, record)
        for row in history:
            queue_history_row(pipe, self._keys, table, row)


class RegistryStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    @property
    def pool(self) -> str:
        return self.keys.pool

    async def get(self, sid: str) -> Record | None:
        async with translated("signatory read"):
            raw = await self.client.hget(self.keys.signatories, sid)
        return None if raw is None else cast(Record, orjson.loads(raw))

    async def count(self) -> int:
        """How many signatories the pool has ever had (left ones included)."""
        async with translated("signatory count"):
            return int(await self.client.scard(self.keys.signatory_ids))

    async def all(self) -> list[Record]:
        """Every record, left ones included, in no particular order."""
        async with translated("signatory list"):
            raw = await self.client.hvals(self.keys.signatories)
        return [orjson.loads(v) for v in raw]

    async def transaction(self, apply: Callable[[RegistryTxn], Awaitable[T]]) -> T:
        """Run ``apply`` with the records and the host index watched; again if another changed them."""
        async def run(pipe: Pipeline) -> T:
            return await apply(RegistryTxn(pipe, self.keys))

        async with translated("signatory write"):
            return cast(T, await self.client.transaction(run, self.keys.signatories, self.keys.hosts,
                                                         value_from_callable=True))
