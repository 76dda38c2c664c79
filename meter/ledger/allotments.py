"""AllotmentStore: the allotments in force, in the layout decide.lua reads; the only writer of it.

Per metric and period label (the period's own label, and ``current`` for the stocks), a hash
``keys.allotments(metric, label)`` that decide.lua reads at every decision:

- ``<signatory id>``: its allotment (an integer);
- ``_on`` = 1: allotments are in force, so a signatory without a field gets 0 (left, not joined);
- ``_borrowing`` = 1: the pool lets a signatory use what others leave (the allotment is not a
  limit, only the cap is);
- ``_burst_cap``, ``_burst_used`` (``reserved``): the burst reserve and what was drawn from it
  this period; decide.lua increments ``_burst_used``, and a rewrite keeps the value of the
  period's own hash (which a stock's ``current`` hash takes too);
- ``_elastic``, ``_elastic_rank``, ``_start``, ``_length`` (``elastic``, flows only): the keys of
  the protection index decide.lua keeps (hash and sorted set), and the period it paces (unix
  seconds); a rewrite deletes the index, so the script rebuilds it from the new allotments.

Beside them, per period label: the allocation document (``keys.allocation``, JSON, as
``GET /v1/allocations`` answers it) and the fingerprint of what it was computed from
(``keys.allocation_inputs``). ``store`` replaces them all, with the history row for the writer's
stream, in one optimistic transaction that keeps what was drawn from the burst reserve meanwhile.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis.asyncio as redis
from redis import exceptions as rex
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys
from meter.ledger.stream import queue_history_row

WATCH_TRIES = 10  # then the last try goes unwatched: a draw at that instant may be lost
HISTORY_TABLE = "allocations"


@dataclass(frozen=True)
class Elastic:
    """The period an elastic index paces (unix seconds)."""

    start_s: int
    length_s: int


@dataclass(frozen=True)
class AllotmentHash:
    """What decide.lua reads for one metric and period label."""

    metric: str
    label: str
    shares: Mapping[str, int]
    borrowing: bool = False
    burst_cap: int | None = None  # the reserved policy's burst reserve (None: no reserve)
    elastic: Elastic | None = None


class AllotmentStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def store(self, label: str, hashes: Sequence[AllotmentHash], document: Mapping[str, Any],
                    fingerprint: str, history_row: bytes, ttl_s: int) -> None:
        """Replace a period's allotment hashes, document and fingerprint, and queue its history row."""
        # the period's own hash of each metric holds what was drawn (a stock's ``current`` hash takes it too)
        watched = {m: self.keys.allotments(m, label) for m in sorted({h.metric for h in hashes})}
        async with translated("allocation"), self.client.pipeline(transaction=True) as pipe:
            for attempt in range(WATCH_TRIES):
                try:
                    # what was drawn from the burst reserve stays drawn: read it and replace the
                    # hashes in one optimistic transaction, so no draw made meanwhile is lost
                    if attempt < WATCH_TRIES - 1:
                        await pipe.watch(*watched.values())
                    burst_used = {m: await self.client.hget(key, "_burst_used") for m, key in watched.items()}
                    cast(Any, pipe).multi()  # (redis-py leaves multi() untyped)
                    for h in hashes:
                        self._queue_hash(pipe, h, burst_used, ttl_s)
                    pipe.set(self.keys.allocation(label), orjson.dumps(document), ex=ttl_s)
                    pipe.set(self.keys.allocation_inputs(label), fingerprint, ex=ttl_s)
                    queue_history_row(pipe, self.keys, HISTORY_TABLE, history_row)
                    await pipe.execute()
                    return
                except rex.WatchError:
                    continue  # a draw landed meanwhile: read again

    def _queue_hash(self, pipe: Pipeline, h: AllotmentHash, burst_used: Mapping[str, Any], ttl_s: int) -> None:
        key = self.keys.allotments(h.metric, h.label)
        fields: dict[FieldT, EncodableT] = {sid: v for sid, v in h.shares.items()}
        fields["_on"] = 1
        if h.borrowing:
            fields["_borrowing"] = 1
        if h.burst_cap is not None:
            fields["_burst_cap"] = h.burst_cap
            fields["_burst_used"] = int(burst_used.get(h.metric) or 0)
        if h.elastic is not None:
            index, rank = self.keys.elastic(h.metric, h.label), self.keys.elastic_rank(h.metric, h.label)
            fields.update(_elastic=index, _elastic_rank=rank, _start=h.elastic.start_s, _length=h.elastic.length_s)
        pipe.delete(key)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, ttl_s)
        if h.elastic is not None:
            pipe.delete(self.keys.elastic(h.metric, h.label), self.keys.elastic_rank(h.metric, h.label))

    async def in_force(self, metric: str, label: str) -> dict[str, int] | None:
        """{signatory: allotment} in force for ``metric`` in ``label``; None when no allotments are
        in force (no ``_on``)."""
        async with translated("allotments"):
            raw = await self.client.hgetall(self.keys.allotments(metric, label))
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        if not fields.get("_on"):
            return None
        return {sid: int(float(v)) for sid, v in fields.items() if not sid.startswith("_")}

    async def document(self, label: str) -> dict[str, Any] | None:
        """The allocation document stored for ``label``, or None."""
        async with translated("allocation"):
            raw = await self.client.get(self.keys.allocation(label))
        return None if raw is None else cast(dict[str, Any], orjson.loads(raw))

    async def documents(self, labels: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents Redis still keeps for ``labels`` (one MGET), by label."""
        if not labels:
            return {}
        async with translated("allocation"):
            raw = await self.client.mget([self.keys.allocation(label) for label in labels])
        return {label: orjson.loads(doc) for label, doc in zip(labels, raw) if doc is not None}

    async def fingerprint(self, label: str) -> str | None:
        """The fingerprint of what the stored allocation of ``label`` was computed from."""
        async with translated("allocation"):
            raw = await self.client.get(self.keys.allocation_inputs(label))
        return None if raw is None else as_text(raw)

    async def ledger_complete(self) -> bool:
        """False while Redis has lost the ledger (and the allotments with it): the rebuild comes first."""
        async with translated("ledger epoch"):
            return bool(await self.client.exists(self.keys.ledger_epoch))
