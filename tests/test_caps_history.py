"""The caps in force reach ClickHouse: recorded at start-up, again only when the pool file changes them."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meter.http import appkeys
from meter.store.caps import record_caps

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.both_stores]


async def caps_rows(store, pool_id):
    return await store.rows(f"SELECT metric, cap, toString(effective_at) FROM {store.db}.caps"
                            " WHERE pool = {p:String} ORDER BY effective_at, metric", {"p": pool_id})


async def test_start_up_records_the_caps_then_only_changes(client, config, pool_id, clock):
    store = client.app[appkeys.STORE]
    first = await caps_rows(store, pool_id)
    assert {m: c for m, c, _ in first} == config.caps.model_dump()
    assert {at for _, _, at in first} == {"2026-04-20 12:00:00.000000"}

    later = datetime(2026, 5, 2, 8, 0, tzinfo=UTC)
    same = config.caps.model_dump()
    assert not await record_caps(store, pool_id, same, later)
    assert await record_caps(store, pool_id, {**same, "api_calls": 450_000}, later)
    rows = await caps_rows(store, pool_id)
    assert len(rows) == 2 * len(first)
    sql = (f"SELECT argMax(cap, effective_at) FROM {store.db}.caps WHERE pool = {{p:String}}"
           " AND metric = 'api_calls' AND effective_at <= {t:DateTime64(6, 'UTC')}")
    assert await store.rows(sql, {"p": pool_id, "t": "2026-04-30 00:00:00"}) == [(300_000,)]
    assert await store.rows(sql, {"p": pool_id, "t": "2026-05-03 00:00:00"}) == [(450_000,)]
