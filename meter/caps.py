"""The caps in force, recorded in ClickHouse so dashboards read them instead of hard-coding them.

At start-up the pool file's caps are compared with the last ones recorded for the pool; when any
differs (or none is recorded), every cap is recorded again with the time it took effect. The rows
go through the writer's stream, as allocations and registry changes do, so they reach ClickHouse
even when it is away at start-up.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as redis

from meter.errors import StoreQueryError, StoreUnavailable
from meter.keys import Keys
from meter.ledger.client import translated
from meter.ledger.stream import queue_history_row
from meter.store import queries
from meter.store.clickhouse import ClickHouseStore
from meter.store.rows import ch_time

log = logging.getLogger("meter.caps")


def cap_rows(pool: str, caps: dict[str, int], at: datetime) -> list[bytes]:
    """One history row per metric, all taking effect at ``at``."""
    return [orjson.dumps({"pool": pool, "metric": metric, "effective_at": ch_time(at), "cap": cap})
            for metric, cap in sorted(caps.items())]


async def recorded_caps(store: ClickHouseStore, pool: str) -> dict[str, int] | None:
    """The last recorded caps, or None when ClickHouse cannot say (then they are recorded again:
    a repeated row of the same caps changes no answer)."""
    sql, params = queries.latest_caps(store.db, pool)
    try:
        return {metric: int(cap) for metric, cap in await store.rows(sql, params)}
    except (StoreUnavailable, StoreQueryError) as exc:
        log.warning("caps: cannot read the recorded caps; recording them again", extra={"error": str(exc)})
        return None


async def record_caps(client: redis.Redis, keys: Keys, store: ClickHouseStore, pool: str,
                      caps: dict[str, Any], at: datetime) -> bool:
    """Record ``caps`` as in force from ``at`` if they differ from the last recorded; True if so."""
    wanted = {metric: int(cap) for metric, cap in caps.items()}
    if await recorded_caps(store, pool) == wanted:
        return False
    async with translated("caps"), client.pipeline(transaction=True) as pipe:
        for row in cap_rows(pool, wanted, at):
            queue_history_row(pipe, keys, "caps", row)
        await pipe.execute()
    log.info("caps recorded", extra={"caps": wanted})
    return True
