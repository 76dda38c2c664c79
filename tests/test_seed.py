"""METER_SEED_SIGNATORIES: a pool with no signatories gets the file's at start-up, once (real
Redis and chDB)."""
import pytest
from aiohttp import web

from meter.app import create_app
from meter.config.settings import Settings
from meter.core.errors import ConfigError, InvalidRequest
from meter.observability.telemetry import Telemetry
from tests.conftest import REDIS_URL, auth
from tests.service import ROOT

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
DEMO_CSV = ROOT / "examples" / "signatories.csv"


def seeded(tmp_path, seed) -> Settings:
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10,
                    scheduler=False, seed_signatories=seed)


@pytest.fixture
def settings(tmp_path):
    return seeded(tmp_path, DEMO_CSV)


async def ids(client) -> dict[str, str]:
    resp = await client.get("/v1/signatories", headers=auth("reader"))
    return {r["id"]: r["name"] for r in (await resp.json())["signatories"]}


async def test_an_empty_pool_is_seeded_once(client, aiohttp_client, settings, config, clock, store):
    expected = {line.split(",")[0] for line in DEMO_CSV.read_text().splitlines()[1:] if line.strip()}
    assert set(await ids(client)) == expected
    resp = await client.put("/v1/signatories/loiret", json={"name": "Loiret (renamed)", "kind": "departement",
                                                            "population": 680434}, headers=auth("admin"))
    assert resp.status == 200, await resp.text()
    # started again on the same Redis: the pool has signatories, so the file is not imported again
    again = await aiohttp_client(create_app(settings, config, clock=clock, telemetry=Telemetry(), store=store))
    assert (await ids(again))["loiret"] == "Loiret (renamed)"


@pytest.mark.parametrize("content, error", [(None, ConfigError),
                                            ("id,name,kind\nNOT AN ID,x,commune\n", InvalidRequest)])
async def test_an_unreadable_or_bad_seed_file_stops_start_up(tmp_path, config, clock, store, redis_client,
                                                             content, error):
    path = tmp_path / "seed.csv"
    if content is not None:
        path.write_text(content)
    runner = web.AppRunner(create_app(seeded(tmp_path, path), config, clock=clock, telemetry=Telemetry(), store=store))
    try:
        with pytest.raises(error):
            await runner.setup()  # start-up: the cleanup contexts run up to the failing one
    finally:
        await runner.cleanup()
