"""The ClickHouse server path (ServerBackend, clickhouse-connect): the same migrations, inserts and queries as chDB.

Runs against METER_TEST_CLICKHOUSE_URL when it names a real server (e.g. http://default:meter@localhost:8123,
as docker-compose.yml starts one), else against the test-only stand-in (tests/clickhouse_http.py).
"""
import uuid
from datetime import date

import pytest

from meter.store import queries
from meter.store.clickhouse import ClickHouseStore, migrations

ROW = (b'{"pool":"p","source":"s","id":"1","type":"api.call","time":1773136800.5,"day":"2026-03-10",'
       b'"signatory":"a","subject":"a","dataset":"","object":"","kind":"","amount":3,"raw_bytes":0,'
       b'"check_id":"","received":1773136800.5}')


async def test_migrations_are_idempotent(server_store):
    assert await server_store.migrate() == []


async def test_same_token_inserts_once_and_the_rollup_follows(server_store):
    await server_store.insert_json("events", ROW, "p:1-0:1-0:events")
    await server_store.insert_json("events", ROW, "p:1-0:1-0:events")
    sql, params = queries.flow_totals(server_store.db, "p", date(2026, 3, 1), date(2026, 3, 31))
    assert [tuple(r) for r in await server_store.rows(sql, params)] == [("api_calls", "a", 3)]


@pytest.mark.both_stores
async def test_migrations_run_twice_apply_everything_then_nothing(store):
    fresh = ClickHouseStore(store.backend, f"t_{uuid.uuid4().hex[:12]}")
    try:
        assert await fresh.migrate() == [name for _, name, _ in migrations()]
        assert await fresh.migrate() == []
        rows = await fresh.rows(f"SELECT version FROM {fresh.db}.schema_migrations ORDER BY version")
        assert [v for (v,) in rows] == [v for v, _, _ in migrations()]
    finally:
        await store.backend.command(f"DROP DATABASE IF EXISTS {fresh.db}", {})
