"""ClickHouse away (DESIGN §7), on real parts: a server URL where nothing answers (a closed loopback
port, then the test-only stand-in started there), a server stopped and started again while the
service runs, and inserts the engine refuses (a CHECK constraint no row passes, on chDB and on the
server path). Decisions and ingestion go on through Redis, reads of history answer 503
``store_unavailable``, /readyz says which part is missing, and the writer catches up.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from meter.app import create_app
from meter.config.settings import Settings
from meter.http import appkeys
from meter.ledger.keys import Keys
from meter.observability.telemetry import Telemetry
from tests.clickhouse_http import StandIn, free_port
from tests.conftest import REDIS_URL, auth, pool_toml, wait_written
from tests.service import Service

pytestmark = [pytest.mark.redis, pytest.mark.chdb]


def events(first, n):
    return [{"specversion": "1.0", "id": f"e{i}", "source": "test", "type": "api.call", "subject": "alpha",
             "time": "2026-04-20T10:00:00Z", "data": {"count": 1}} for i in range(first, first + n)]


async def send(client, first, n):
    resp = await client.post("/v1/events", json=events(first, n), headers=auth("producer"))
    assert resp.status == 202, await resp.text()


async def readyz(client):
    resp = await client.get("/readyz")
    return resp.status, (await resp.json())["checks"]


async def api_calls_used(client):
    resp = await client.get("/v1/pool", params={"period": "2026-04"}, headers=auth("admin"))
    return resp.status, await resp.json()


async def until(predicate, timeout=45.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError("not reached in time")


async def served_without_clickhouse(client):
    """What the service does while ClickHouse does not answer: decides, ingests, refuses history."""
    resp = await client.post("/v1/check", json={"signatory": "alpha", "metric": "api_calls"}, headers=auth("gateway"))
    assert resp.status == 200, await resp.text()
    status, body = await api_calls_used(client)
    assert status == 503 and body["error"]["type"] == "store_unavailable", body
    status, checks = await readyz(client)
    assert status == 503 and checks["redis"] is True and checks["clickhouse"] is False, checks


@pytest.fixture
def server_port():
    return free_port()


@pytest.fixture
def away_settings(tmp_path, server_port):
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10, scheduler=False,
                    clickhouse_url=f"http://default:meter@127.0.0.1:{server_port}",
                    clickhouse_database=f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def ledger_kept(redis_client, pool_id):
    """Redis holds the pool's ledger, as when a meter restarts during an outage of ClickHouse (a
    Redis that lost it too must wait for ClickHouse: the ledger is rebuilt from history first)."""
    await redis_client.set(Keys(pool_id).ledger_epoch, 1)


@pytest.fixture
async def standin(tmp_path, server_port):
    """The stand-in for the port the service was given; not started: each test says when."""
    server = StandIn(tmp_path / "clickhouse" / "chdb", port=server_port)
    (tmp_path / "clickhouse").mkdir()
    yield server
    server.stop()


async def test_the_service_starts_without_clickhouse_and_catches_up_when_it_answers(
        ledger_kept, aiohttp_client, away_settings, config, clock, standin):
    client = await aiohttp_client(create_app(away_settings, config, clock=clock, telemetry=Telemetry()))
    await send(client, 0, 30)
    await served_without_clickhouse(client)
    assert await client.app[appkeys.LEDGER].backlog() > 0  # the stream holds them

    await asyncio.to_thread(standin.start)  # the server comes: migrated at its first answer, then written to
    await until(lambda: _ready(client))
    await wait_written(client, timeout=30)
    status, body = await api_calls_used(client)
    assert status == 200 and body["metrics"]["api_calls"]["used"] == 30 + 1  # the events and the check
    await send(client, 30, 5)
    await wait_written(client, timeout=30)
    assert (await api_calls_used(client))[1]["metrics"]["api_calls"]["used"] == 36


async def test_clickhouse_stopped_while_running_then_back(
        ledger_kept, aiohttp_client, away_settings, config, clock, standin):
    await asyncio.to_thread(standin.start)
    client = await aiohttp_client(create_app(away_settings, config, clock=clock, telemetry=Telemetry()))
    await send(client, 0, 10)
    await wait_written(client, timeout=30)
    assert (await readyz(client))[0] == 200

    await asyncio.to_thread(standin.stop)
    await send(client, 10, 20)  # accepted: the stream is the buffer
    await served_without_clickhouse(client)

    await asyncio.to_thread(standin.start)  # the same data directory: what was written is still there
    await until(lambda: _ready(client))
    await wait_written(client, timeout=60)
    status, body = await api_calls_used(client)
    assert status == 200 and body["metrics"]["api_calls"]["used"] == 30 + 1


async def _ready(client):
    return (await readyz(client))[0] == 200


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"writer_unready_s": 3.0})


@pytest.mark.both_stores
async def test_inserts_refused_make_the_service_unready_after_the_setting_then_it_catches_up(client, pool_id):
    store = client.app[appkeys.STORE]
    await store.command(f"ALTER TABLE {store.db}.events ADD CONSTRAINT refused_for_the_test CHECK 0")
    await send(client, 0, 12)

    async def failing():
        return "writer_failing_s" in (await readyz(client))[1]

    await until(failing, timeout=10, every=0.05)
    status, checks = await readyz(client)
    assert status == 200 and checks["writer"] is True  # failing, not yet for METER_WRITER_UNREADY_S

    async def unready():
        status, checks = await readyz(client)
        return status == 503 and checks["writer"] is False and checks["clickhouse"] is True

    await until(unready, timeout=20)
    assert await client.app[appkeys.LEDGER].backlog() > 0

    await store.command(f"ALTER TABLE {store.db}.events DROP CONSTRAINT refused_for_the_test")
    await wait_written(client, timeout=60)  # the writer's backoff may have reached a few seconds
    await until(lambda: _ready(client), timeout=10)
    status, checks = await readyz(client)
    assert status == 200 and checks["writer"] is True and "writer_failing_s" not in checks
    assert (await api_calls_used(client))[1]["metrics"]["api_calls"]["used"] == 12


@pytest.mark.e2e
async def test_meter_serve_starts_while_the_server_is_away(tmp_path, pool_id, ledger_kept, server_port, standin):
    """`meter serve` as a user runs it, with METER_CLICKHOUSE_URL on a port where nothing listens."""
    pool_file = tmp_path / "pool.toml"
    pool_file.write_text(pool_toml(pool_id))
    env = {"METER_CLICKHOUSE_URL": f"http://default:meter@127.0.0.1:{server_port}",
           "METER_CLICKHOUSE_DATABASE": f"t_{uuid.uuid4().hex[:12]}"}
    svc = Service(pool_file, tmp_path / "data", **env).start(until="/healthz")
    try:
        producer = {**auth("producer"), "Content-Type": "application/json"}
        body = json.dumps(events(0, 25)).encode()
        assert svc.request("POST", "/v1/events", body, producer)[0] == 202
        status, answer = svc.json("GET", "/readyz")
        assert status == 503 and answer["checks"]["clickhouse"] is False
        status, answer = svc.json("GET", "/v1/pool?period=2026-04", headers=auth("admin"))
        assert status == 503 and answer["error"]["type"] == "store_unavailable"

        await asyncio.to_thread(standin.start)
        deadline = time.monotonic() + 60
        used = None
        while time.monotonic() < deadline and used != 25:
            status, answer = svc.json("GET", "/v1/pool?period=2026-04", headers=auth("admin"))
            used = answer["metrics"]["api_calls"]["used"] if status == 200 else None
            await asyncio.sleep(0.3)
        assert used == 25
        assert svc.json("GET", "/readyz")[0] == 200
        assert "ClickHouse is unreachable at start-up" in svc.log.read_text()
    finally:
        assert svc.stop() == 0
