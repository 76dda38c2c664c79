"""Fixtures: the real Redis (started if it is not running), real chDB, the app on real parts.

Isolation: every test gets its own pool id (so its own Redis keys, all under ``meter:{pool}:``,
deleted afterwards) and its own ClickHouse database inside the one chDB path this process may
open (dropped afterwards).

The server path: ``clickhouse_url`` is ``METER_TEST_CLICKHOUSE_URL`` when it names a real server,
else the URL of the test-only stand-in (tests/clickhouse_http.py, chDB in its own process, started
once per session). A test marked ``both_stores`` runs twice, its ``store`` (and so its ``client``)
on chDB in this process and on the server path through clickhouse-connect.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_sync
import redis.asyncio as redis
from hypothesis import settings as hypothesis_settings

from meter.app import create_app
from meter.config.settings import PoolConfig, Settings, parse_pool_config
from meter.core.clock import FixedClock
from meter.ledger.keys import Keys
from meter.observability.telemetry import Telemetry
from meter.store.clickhouse import ChdbBackend, ClickHouseStore
from tests.clickhouse_http import StandIn, statement
from tests.redis_cluster import cluster_redis, redis_cluster  # noqa: F401  (fixtures, for every test)
from tests.service import private_redis  # noqa: F401  (a fixture, for every test)
from tests.smtp_catcher import SmtpServer

REDIS_URL = "redis://127.0.0.1:6379/0"
TOKENS = {"admin": "test-admin-token", "gateway": "test-gateway-token", "producer": "test-producer-token",
          "reader": "test-reader-token"}


def _redis_up() -> bool:
    try:
        return bool(redis_sync.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis_sync.exceptions.ConnectionError:
        return False


def ensure_redis() -> None:
    """Start the machine's Redis the documented way if it is not answering."""
    if _redis_up():
        return
    if shutil.which("redis-server") is None:
        pytest.exit("no Redis at 127.0.0.1:6379 and no redis-server binary (apt-get install redis-server)")
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
                    "--save", "", "--appendonly", "no"], check=True)
    for _ in range(50):
        if _redis_up():
            return
        time.sleep(0.1)
    pytest.exit("started redis-server but it does not answer on 127.0.0.1:6379")


def pytest_sessionstart(session: pytest.Session) -> None:
    ensure_redis()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_stores: run on chDB and on the ClickHouse server path")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_stores") and "store" in metafunc.fixturenames:
        metafunc.parametrize("store", ["chdb", "server"], indirect=True)


def new_pool_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def pool_toml(pool_id: str, extra: str = "") -> str:
    tokens = "".join(f'\n[[tokens]]\nrole = "{role}"\ntoken = "{secret}"\nname = "test-{role}"\n'
                     for role, secret in TOKENS.items())
    return f'[pool]\nid = "{pool_id}"\ntimezone = "Europe/Paris"\n{extra}\n{tokens}'


def make_config(pool_id: str, extra: str = "") -> PoolConfig:
    return parse_pool_config(pool_toml(pool_id, extra), "test pool")


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


async def delete_pool_keys(client: redis.Redis, pool_id: str) -> None:
    batch = [key async for key in client.scan_iter(match=Keys(pool_id).pattern, count=1000)]
    for i in range(0, len(batch), 500):
        await client.delete(*batch[i:i + 500])


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_backend(chdb_path: Path) -> Iterator[ChdbBackend]:
    backend = ChdbBackend(chdb_path)
    yield backend


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server's URL (METER_TEST_CLICKHOUSE_URL) or the stand-in's, for the whole session."""
    url = os.environ.get("METER_TEST_CLICKHOUSE_URL", "")
    if url:
        yield url
        return
    with StandIn(tmp_path_factory.mktemp("clickhouse-http") / "chdb") as server:
        yield server.url


@pytest.fixture
def server_env(clickhouse_url: str) -> Iterator[dict[str, str]]:
    """The environment that puts a service in a subprocess on the server path, in a database of
    its own (dropped afterwards)."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    yield {"METER_CLICKHOUSE_URL": clickhouse_url, "METER_CLICKHOUSE_DATABASE": database}
    statement(clickhouse_url, f"DROP DATABASE IF EXISTS {database}")


@contextlib.asynccontextmanager
async def opened_server_store(url: str, tmp_path: Path) -> AsyncIterator[ClickHouseStore]:
    """A migrated database of its own on the server path (ServerBackend, clickhouse-connect), dropped after."""
    st = await ClickHouseStore.open(url, tmp_path, f"t_{uuid.uuid4().hex[:12]}")
    try:
        await st.migrate()
        yield st
        await st.command(f"DROP DATABASE IF EXISTS {st.db}")
    finally:
        await st.close()


@pytest.fixture
async def server_store(clickhouse_url: str, tmp_path: Path) -> AsyncIterator[ClickHouseStore]:
    async with opened_server_store(clickhouse_url, tmp_path) as st:
        yield st


@pytest.fixture
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ClickHouseStore]:
    """The embedded store (chDB) by default; the server path when parametrised with "server"."""
    if getattr(request, "param", "chdb") == "server":
        async with opened_server_store(request.getfixturevalue("clickhouse_url"), tmp_path) as server:
            yield server
        return
    st = ClickHouseStore(request.getfixturevalue("chdb_backend"), f"t_{uuid.uuid4().hex[:12]}")
    await st.migrate()
    yield st
    await st.command(f"DROP DATABASE IF EXISTS {st.db}")


@pytest.fixture
def pool_id() -> str:
    return new_pool_id()


@pytest.fixture
async def redis_client(pool_id: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    await delete_pool_keys(client, pool_id)
    await client.aclose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 4, 20, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10, scheduler=False)


@pytest.fixture
def config(pool_id: str) -> PoolConfig:
    return make_config(pool_id)


@pytest.fixture
async def client(redis_client: redis.Redis, store: ClickHouseStore, aiohttp_client, settings: Settings,
                 config: PoolConfig, clock: FixedClock):
    """The app on real Redis and chDB; its writer runs in the background as in production.

    Redis and the store come first, so they are torn down after the app has stopped.
    """
    app = create_app(settings, config, clock=clock, telemetry=Telemetry(), store=store)
    return await aiohttp_client(app)


async def wait_written(client, timeout: float = 10.0) -> None:
    """Wait until the writer has emptied the stream into ClickHouse."""
    from meter.http import appkeys

    ledger = client.app[appkeys.LEDGER]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await ledger.backlog() == 0 and not await ledger.client.exists(ledger.keys.writer_inflight):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the writer did not empty the stream in time")


# Hypothesis measures each example's wall time; on a loaded 2-core machine (CI shares it with
# Redis, chDB and the service under test) that is noise, not a finding. Examples stay bounded.
hypothesis_settings.register_profile("meter", deadline=None)
hypothesis_settings.load_profile("meter")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""
    with SmtpServer() as server:
        yield server
