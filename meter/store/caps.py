"""The caps in force, recorded in ClickHouse so dashboards read them instead of hard-coding them.

At start-up the pool file's caps are compared with the last ones recorded for the pool; when any
differs (or none is recorded), every cap is recorded again with the time it took effect. The rows
are inserted straight away, not through the writer's stream: start-up has just migrated the
store, so it is reachable, and the stream's backlog stays the events' alone.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson

from meter.store import queries
from meter.store.clickhouse import ClickHouseStore
from meter.store.rows import ch_time

log = logging.getLogger("meter.store.caps")


def cap_rows(pool: str, caps: dict[str, int], at: datetime) -> bytes:
    """One JSONEachRow line per metric, all taking effect at ``at``."""
    return b"\n".join(orjson.dumps({"pool": pool, "metric": metric, "effective_at": ch_time(at), "cap": cap})
                      for metric, cap in sorted(caps.items()))


async def recorded_caps(store: ClickHouseStore, pool: str) -> dict[str, int]:
    """The last recorded cap of each metric ({} for a pool that has none yet)."""
    sql, params = queries.latest_caps(store.db, pool)
    return {metric: int(cap) for metric, cap in await store.rows(sql, params)}


async def record_caps(store: ClickHouseStore, pool: str, caps: dict[str, Any], at: datetime) -> bool:
    """Record ``caps`` as in force from ``at`` if they differ from the last recorded; True if so."""
    wanted = {metric: int(cap) for metric, cap in caps.items()}
    if await recorded_caps(store, pool) == wanted:
        return False
    # the token makes a retried insert count once; the time in it lets the same caps come back later
    token = f"caps:{int(at.timestamp() * 1_000_000)}"
    await store.insert_json("caps", cap_rows(pool, wanted, at), token)
    log.info("caps recorded", extra={"caps": wanted})
    return True
