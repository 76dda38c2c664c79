"""The ClickHouse server path (clickhouse-connect): the same migrations, inserts and queries as chDB.

Runs only when METER_TEST_CLICKHOUSE_URL names a server (e.g. http://default:meter@localhost:8123,
as docker-compose.yml starts one); this machine has none, so CI runs the chDB path.
"""
import os
import uuid
from datetime import date

import pytest

from meter.store import queries
from meter.store.clickhouse import ClickHouseStore

URL = os.environ.get("METER_TEST_CLICKHOUSE_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="METER_TEST_CLICKHOUSE_URL is not set (no ClickHouse server)")

ROW = (b'{"pool":"p","source":"s","id":"1","type":"api.call","time":1773136800.5,"day":"2026-03-10",'
       b'"signatory":"a","subject":"a","dataset":"","object":"","kind":"","amount":3,"raw_bytes":0,'
       b'"check_id":"","received":1773136800.5}')


@pytest.fixture
async def server_store(tmp_path):
    store = await ClickHouseStore.open(URL, tmp_path, f"t_{uuid.uuid4().hex[:12]}")
    await store.migrate()
    yield store
    await store.command(f"DROP DATABASE IF EXISTS {store.db}")
    await store.close()


async def test_migrations_are_idempotent(server_store):
    assert await server_store.migrate() == []


async def test_same_token_inserts_once_and_the_rollup_follows(server_store):
    await server_store.insert_json("events", ROW, "p:1-0:1-0:events")
    await server_store.insert_json("events", ROW, "p:1-0:1-0:events")
    sql, params = queries.flow_totals(server_store.db, "p", date(2026, 3, 1), date(2026, 3, 31))
    assert [tuple(r) for r in await server_store.rows(sql, params)] == [("api_calls", "a", 3)]
