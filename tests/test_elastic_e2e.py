"""Elastic end to end through /v1/check on the real Redis and chDB, time driven by the injected
clock: a quiet partner keeps its guarantee early in the month, the others borrow it late."""
import base64
from datetime import UTC, datetime

import pytest

from meter.http import appkeys
from tests.conftest import TOKENS, auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
# April 2026 in Paris: from 31 March 22:00 UTC, 30 days; f = 0.1 on 3 April 22:00 UTC, 0.9 on the 27th
EARLY = datetime(2026, 4, 3, 22, 0, tzinfo=UTC)
LATE = datetime(2026, 4, 27, 22, 0, tzinfo=UTC)
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


async def test_the_gateways_headers_name_the_limit_that_stopped_it(client):
    await setup(client, EARLY)
    body = {"name": "busy", "kind": "commune", "population": 1000, "joined_at": "2020-01-01",
            "hosts": ["busy.example"]}
    assert (await client.put("/v1/signatories/busy", json=body, headers=auth("admin"))).status == 200
    assert (await check(client, "busy", 550))["allowed"]  # its 500 and the 50 calme does not protect
    resp = await client.get("/v1/authz", headers={"X-Meter-Token": TOKENS["gateway"],
                                                  "X-Original-Host": "busy.example", "X-Original-URI": "/"})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    key = resp.headers["RateLimit-Policy"].split("pk=")[1].split(";")[0].strip(":")
    assert base64.b64decode(key) == b"signatory:busy"
    assert "r=0" in resp.headers["RateLimit"]


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


async def test_the_allocation_says_what_is_guaranteed_and_what_may_be_borrowed(client):
    await setup(client, EARLY)
    doc = await (await client.get("/v1/allocations", headers=auth("reader"))).json()
    assert "borrow" in doc["explanation"] and "emprunt" in doc["explanation_fr"]
    assert "guarantee" in doc["explanation"] and "garantie" in doc["explanation_fr"]


async def test_admins_can_try_elastic(client):
    body = {"policy": "elastic", "cap": 100, "signatories": [
        {"id": "a", "weight": 1, "demand": 10}, {"id": "b", "weight": 1, "demand": 50}, {"id": "c", "weight": 1}]}
    resp = await client.post("/v1/allocations/simulate", json=body, headers=auth("admin"))
    assert resp.status == 200 and (await resp.json())["allotments"] == {"a": 10, "b": 45, "c": 45}


class TestJointStocks:
    @pytest.fixture
    def config(self, pool_id):
        demand = ('demand = { records = { "a" = 900, "b" = 150 }, raw_bytes = { "a" = 300, "b" = 1800 }, '
                  'content_bytes = { "a" = 0, "b" = 0 } }')
        return make_config(pool_id, '[caps]\nrecords = 1000\nraw_bytes = 2000\ncontent_bytes = 1000\n'
                                    f'[allocation]\npolicy = "max_min_fair"\nstocks = "drf"\n'
                                    f'unattributed_share = 0.1\n{demand}\n')

    async def test_drf_shares_the_stocks_by_dominant_share(self, client):
        for sid in ("a", "b"):
            body = {"name": sid, "kind": "commune", "population": 1000, "joined_at": "2020-01-01"}
            assert (await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))).status in (200, 201)
        doc = await (await client.get("/v1/allocations", headers=auth("reader"))).json()
        got = doc["signatories"]
        # docs' worked example on 900 records and 1800 bytes: both at 6/7 of their vectors
        assert (got["a"]["records"], got["b"]["records"]) == (771, 129)
        assert (got["a"]["raw_bytes"], got["b"]["raw_bytes"]) == (257, 1543)
        assert got["a"]["content_bytes"] == got["b"]["content_bytes"] == 0
        assert got["unattributed"]["records"] == 100
