"""LedgerRestore: what the ledger rebuild writes into Redis, in the scripts' own layouts.

When Redis has lost the ledger (``keys.ledger_epoch`` is gone and the scripts refuse to work),
``meter/jobs/reconcile.py`` reads the ClickHouse history and this writes it back, exactly as the
scripts would have left it (``tests/test_restore.py`` ingests and decides, snapshots Redis,
flushes it, rebuilds and compares):

- ingest.lua's dedup markers: ``keys.seen(source, id)`` = ``1`` for each event received within
  the dedup window (not for the usage rows decide.lua records, source ``meter/check``), and
  ``keys.seen_check(check_id)`` = ``1`` for the check an ``api.call`` event repeats, each with
  the lifetime it had left;
- decide.lua's idempotency keys of the checks it allowed and counted (``events.check_keys``,
  "digest:fingerprint"): ``keys.seen_digest(digest)`` = ``fingerprint\\x1fR``. decide.lua writes
  ``fingerprint\\x1f`` + the answer; history keeps the outcome, not the answer, and ``R`` tells
  decide.lua that the check was counted (a retry is not counted again; the same id with another
  request is still refused). A key that is there already keeps its value (NX);
- the flows' counters of the current periods: ``keys.flow(metric, label)``, a field per
  signatory and ``*``, living until the period's end (ingest.lua's ``HINCRBY`` + ``EXPIRE``);
- the stocks: per dataset ``keys.dataset(id)`` = {sig, a: records, b: raw_bytes, t: time ms}
  (ingest.lua's kind ``d``), per content object ``keys.content_object(name)`` = {sig, a: bytes,
  b: 0, t} (kind ``c``), and the pooled totals ``keys.stock(metric)`` (a field per signatory and
  ``*``); the live items (not 0) in the index sets ``keys.datasets_index`` / ``objects_index``,
  and one at 0 expiring after the dedup window, as ingest.lua leaves them;
- the registry (``registry_store.queue_record``), and last the epoch, in the same MULTI.
"""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from meter.ledger.client import translated
from meter.ledger.keys import Keys
from meter.ledger.registry_store import queue_record
from meter.store.history import Received, SignatoryState, SignatoryTotal, Snapshot
from meter.store.rows import USAGE_SOURCE

RESTORED = "R"  # decide.lua's mark of a check counted before a rebuild (its answer was not kept)


@dataclass(frozen=True)
class FlowCounters:
    """One flow's counters for its current period, from history."""

    metric: str
    label: str
    totals: Sequence[SignatoryTotal]
    ttl_s: int  # until the period's end


class LedgerRestore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def complete(self) -> bool:
        """The ledger is complete (its epoch is there); False: Redis lost it, a rebuild is due."""
        async with translated("ledger epoch"):
            return bool(await self.client.exists(self.keys.ledger_epoch))

    async def wait_complete(self, timeout_s: float = 30.0) -> None:
        """Wait (at most ``timeout_s``) for another process to finish the rebuild."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not await self.complete():
            await asyncio.sleep(0.2)

    def dedup_values(self, event: Received) -> dict[str, str]:
        """The dedup keys one received event leaves behind, and their values (ingest.lua, decide.lua)."""
        values = {}
        if event.source != USAGE_SOURCE:  # decide.lua's usage rows have no dedup key of their own
            values[self.keys.seen(event.source, event.id, event.dedup_ns)] = "1"  # in its sender's namespace
        if event.check_id:
            values[self.keys.seen_check(event.check_id)] = "1"  # an api.call event counted this check
        for entry in event.check_keys:  # "digest:fingerprint" of a check allowed and counted
            digest, _, fingerprint = entry.partition(":")
            values[self.keys.seen_digest(digest)] = f"{fingerprint}\x1f{RESTORED}" if fingerprint else "1"
        return values

    async def dedup(self, events: Iterable[Received], now_ms: float, window_s: int) -> int:
        """Set the dedup keys of ``events`` again, each for what is left of its window; how many."""
        restored = 0
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            ttl = window_s - int((now_ms - event.received_ms) // 1000)
            if ttl <= 0:
                continue
            for key, value in self.dedup_values(event).items():
                pipe.set(key, value, ex=ttl, nx=True)  # nx: a check's stored answer stays
                restored += 1
        async with translated("restore dedup keys"):
            await pipe.execute()
        return restored

    async def ledger(self, flows: Sequence[FlowCounters], snapshots: Sequence[Snapshot],
                     pooled_stocks: Sequence[str], signatories: Sequence[SignatoryState], window_s: int,
                     epoch_s: int) -> None:
        """Replace the counters, the stocks and the registry, and set the epoch (the service's clock,
        in seconds): one MULTI."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.keys.datasets_index, self.keys.objects_index)
        for flow in flows:
            key = self.keys.flow(flow.metric, flow.label)
            pipe.delete(key)
            if flow.totals:
                fields: dict[FieldT, EncodableT] = {t.signatory: t.value for t in flow.totals}
                fields["*"] = sum(t.value for t in flow.totals)
                pipe.hset(key, mapping=fields)
                pipe.expire(key, flow.ttl_s)
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for snap in snapshots:
            for metric, v in self._queue_snapshot(pipe, snap, window_s).items():
                totals[metric][snap.signatory] += v
                totals[metric]["*"] += v
        for metric in pooled_stocks:
            pipe.delete(self.keys.stock(metric))
            if totals[metric]:
                levels: dict[FieldT, EncodableT] = {sig: v for sig, v in totals[metric].items()}
                pipe.hset(self.keys.stock(metric), mapping=levels)
        if signatories:
            pipe.delete(self.keys.signatories, self.keys.hosts)
            for state in signatories:
                queue_record(pipe, self.keys, orjson.loads(state.record), state.record.encode())
        pipe.set(self.keys.ledger_epoch, str(epoch_s))
        async with translated("rebuild"):
            await pipe.execute()

    def _queue_snapshot(self, pipe: Pipeline, snap: Snapshot, window_s: int) -> dict[str, int]:
        """Queue one stock item's snapshot hash; returns the levels it adds to the pooled totals."""
        kind, _, name = snap.item.partition(":")
        if kind == "ds":  # the ledger effect of dataset.records (ingest.lua's 'd')
            key, index = self.keys.dataset(name), self.keys.datasets_index
            pipe.hset(key, mapping={"sig": snap.signatory, "a": snap.records, "b": snap.raw_bytes, "t": snap.time_ms})
            levels = {"records": snap.records, "raw_bytes": snap.raw_bytes}
        else:  # of content.bytes (ingest.lua's 'c')
            key, index = self.keys.content_object(name), self.keys.objects_index
            pipe.hset(key, mapping={"sig": snap.signatory, "a": snap.bytes, "b": 0, "t": snap.time_ms})
            levels = {"content_bytes": snap.bytes}
        if any(levels.values()):  # live: it counts against the pool's bound
            pipe.sadd(index, key)
        else:  # at 0: forgotten after the dedup window
            pipe.expire(key, window_s)
        return levels
