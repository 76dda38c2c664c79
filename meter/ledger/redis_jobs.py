"""RedisJobs: what the scheduled jobs ask of Redis (a once-per-pool lock, the denial flush).

The scheduler runs each job in one process of the pool: a lock (``locks.py``) that the run
takes and lets expire (no unlock: a run shorter than the interval must still not repeat in
another process within it). The denial flush is flush_denials.lua, packed here.
"""
from __future__ import annotations

import redis.asyncio as redis

from meter.ledger import scripts
from meter.ledger.client import translated
from meter.ledger.keys import Keys
from meter.ledger.locks import Locks


class RedisJobs:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.locks = Locks(client, keys)
        self._flush = client.register_script(scripts.source("flush_denials"))

    async def take_lock(self, name: str, ttl_ms: int) -> bool:
        """True when this process runs job ``name`` now (another holds it: False)."""
        async with translated(f"job lock {name}"):
            return await self.locks.take(f"job:{name}", ttl_ms / 1000)

    async def flush_denials(self, last_finished_minute: int) -> int:
        """Move every denial count up to that minute (unix minutes) to the stream; rows moved."""
        async with translated("denial flush"):
            return int(await self._flush(keys=[self.keys.stream, self.keys.backlog],
                                         args=[self.keys.prefix, self.keys.pool, last_finished_minute]))
