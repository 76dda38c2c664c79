"""Elastic end to end through /v1/check on the real Redis and chDB, time driven by the injected
clock: a quiet partner keeps its guarantee early in the month, the others borrow it late."""
from datetime import datetime, timezone

import pytest

from meter.http import appkeys
from tests.conftest import auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
# April 2026 in Paris: from 31 March 22:00 UTC, 30 days; f = 0.1 on 3 April 22:00 UTC, 0.9 on the 27th
EARLY = datetime(2026, 4, 3, 22, 0, tzinfo=timezone.utc)
LATE = datetime(2026, 4, 27, 22, 0, tzinfo=timezone.utc)
POOL = '[caps]\napi_calls = 1000\n[allocation]\npolicy = "elastic"\nunattributed_share = 0\n'


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, POOL)


async def setup(client, when):
    client.app[appkeys.CLOCK].set(when)
    for sid in ("busy", "calme"):  # equal populations, no history: 500 each
        body = {"name": sid, "kind": "commune", "population": 1000, "joined_at": "2020-01-01"}
        resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
        assert resp.status in (200, 201), await resp.text()
    resp = await client.get("/v1/allocations", headers=auth("reader"))
    doc = await resp.json()
    assert doc["policy"] == "elastic" and doc["signatories"]["busy"]["api_calls"] == 500


async def check(client, sid, amount):
    resp = await client.post("/v1/check", json={"signatory": sid, "metric": "api_calls", "amount": amount},
                             headers=auth("gateway"))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_quiet_partner_keeps_its_guarantee_early_in_the_month(client):
    await setup(client, EARLY)
    assert (await check(client, "busy", 500))["allowed"]  # its own guarantee
    denied = await check(client, "busy", 51)  # calme keeps (1 - 0.1) x 500 = 450 protected
    assert denied["allowed"] is False and denied["scope"] == "signatory"
    assert denied["limit"] == 550 and denied["remaining"] == 50 and "protected" in denied["reason"]
    assert (await check(client, "busy", 50))["allowed"]  # the unprotected 50 may be borrowed
    assert (await check(client, "calme", 450))["allowed"]  # all it still needs at a steady pace
    full = await check(client, "calme", 1)
    assert full["allowed"] is False and full["scope"] == "pool"


async def test_the_others_borrow_it_late_in_the_month(client):
    await setup(client, LATE)
    assert (await check(client, "busy", 500))["allowed"]
    assert (await check(client, "busy", 450))["allowed"]  # calme keeps only 0.1 x 500 = 50
    denied = await check(client, "busy", 1)
    assert denied["allowed"] is False and denied["scope"] == "signatory" and denied["remaining"] == 0
    assert (await check(client, "calme", 50))["allowed"]  # its protected part is still there
    full = await check(client, "calme", 1)  # within its guarantee, but the pool's cap is hard
    assert full["allowed"] is False and full["scope"] == "pool" and full["limit"] == 1000


async def test_protection_follows_the_partners_own_pace(client):
    await setup(client, LATE)
    assert (await check(client, "calme", 460))["allowed"]  # ahead of pace: keeps what it still needs, 40
    assert (await check(client, "busy", 500))["allowed"]
    assert (await check(client, "busy", 0))["remaining"] == 0  # 1000 - 960 - 40
    assert (await check(client, "calme", 40))["allowed"]
