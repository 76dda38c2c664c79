"""CounterStore: reading the current counters ingest.lua and decide.lua keep (alerts, reconciliation).

A flow's counters for one period are a hash ``keys.flow(metric, label)`` and a pooled stock's
totals a hash ``keys.stock(metric)``: a field per signatory and ``*`` for the pool, each an
integer. Only the scripts write them (and the ledger rebuild, ``restore.py``); this reads them.
"""
from __future__ import annotations

import redis.asyncio as redis

from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys


class CounterStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def flow(self, metric: str, label: str) -> dict[str, int]:
        """{signatory or "*": used} of a flow in the period ``label``."""
        return await self._ints(self.keys.flow(metric, label))

    async def stock(self, metric: str) -> dict[str, int]:
        """{signatory or "*": level} of a pooled stock."""
        return await self._ints(self.keys.stock(metric))

    async def flow_total(self, metric: str, label: str) -> int:
        """The pool's use of a flow in the period ``label`` (its ``*`` field)."""
        async with translated("counters"):
            return int(await self.client.hget(self.keys.flow(metric, label), "*") or 0)

    async def _ints(self, key: str) -> dict[str, int]:
        async with translated("counters"):
            raw = await self.client.hgetall(key)
        out = {}
        for k, v in raw.items():
            try:
                out[as_text(k)] = int(float(v))
            except ValueError:
                continue
        return out
