"""Allocation end to end on the real Redis and chDB: computed when signatories change, stored,
read with an explanation, and enforced by the decide script."""
from datetime import UTC, datetime

import pytest

from meter.http import appkeys
from tests.conftest import auth, make_config, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.both_stores]
CAPS = "[caps]\napi_calls = 1000\nupdate_bytes = 1000\nrecords = 1000\n"


def pool(policy: str, extra: str = "") -> str:
    return CAPS + f'[allocation]\npolicy = "{policy}"\nunattributed_share = 0.1\n{extra}'


async def register(client, sid, population, joined_at="2020-01-01", **extra):
    body = {"name": sid.title(), "kind": "commune", "population": population, "joined_at": joined_at, **extra}
    resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
    assert resp.status in (200, 201), await resp.text()


async def allocations(client, period="2026-04", status=200):
    resp = await client.get("/v1/allocations", params={"period": period}, headers=auth("reader"))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def check(client, signatory, amount=1, metric="api_calls"):
    resp = await client.post("/v1/check", json={"signatory": signatory, "metric": metric, "amount": amount},
                             headers=auth("gateway"))
    assert resp.status == 200
    return await resp.json()


class TestWeighted:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, pool("weighted"))

    async def test_allotments_follow_population_and_are_explained(self, client):
        await register(client, "alpha", 3000)
        await register(client, "beta", 1000)
        doc = await allocations(client)
        assert doc["policy"] == "weighted" and doc["projected"] is False
        assert doc["signatories"]["unattributed"]["api_calls"] == 100
        assert doc["signatories"]["alpha"]["api_calls"] == 675 and doc["signatories"]["beta"]["api_calls"] == 225
        assert doc["signatories"]["alpha"]["records"] == 675
        assert "update_bytes" not in doc["signatories"]["alpha"]
        assert doc["explanation"] and doc["explanation_fr"] and doc["explanation"] != doc["explanation_fr"]
        day = await allocations(client, "2026-04-20")
        assert day["signatories"]["beta"] == {"update_bytes": 225}

    async def test_signatory_at_its_allotment_is_denied_while_another_is_allowed(self, client):
        await register(client, "alpha", 3000)
        await register(client, "beta", 1000)
        assert (await check(client, "beta", 225))["allowed"]
        denied = await check(client, "beta")
        assert denied["allowed"] is False and denied["scope"] == "signatory" and denied["limit"] == 225
        assert (await check(client, "alpha"))["allowed"]
        unknown = await check(client, "nobody", 100)
        assert unknown["allowed"] and unknown["signatory"] == "unattributed"
        assert (await check(client, "nobody"))["scope"] == "signatory"

    async def test_a_signatory_not_active_in_the_period_has_no_allotment(self, client):
        await register(client, "alpha", 3000)
        await register(client, "gone", 1000, joined_at="2020-01-01", left_at="2026-04-01")
        await register(client, "soon", 1000, joined_at="2026-05-01")
        for sid in ("gone", "soon"):
            denied = await check(client, sid)
            assert denied["allowed"] is False and denied["scope"] == "signatory" and denied["limit"] == 0

    async def test_usage_shows_the_allotment(self, client):
        await register(client, "alpha", 3000)
        await check(client, "alpha", 135)
        await wait_written(client)
        resp = await client.get("/v1/usage?signatory=alpha&period=2026-04", headers=auth("reader"))
        m = (await resp.json())["metrics"]["api_calls"]
        assert m["used"] == 135 and m["allotment"] == 900 and m["percent"] == 15.0

    async def test_a_join_mid_month_recomputes_at_once_pro_rata(self, client):
        await register(client, "alpha", 1000)
        assert (await allocations(client))["signatories"]["alpha"]["api_calls"] == 900
        await register(client, "beta", 1000, joined_at="2026-04-16")  # active 15 of 30 days
        doc = await allocations(client)
        assert doc["signatories"]["alpha"]["api_calls"] == 600 and doc["signatories"]["beta"]["api_calls"] == 300
        assert doc["signatories"]["beta"]["records"] == 450  # a stock's period is the current state: in full
        assert (await check(client, "beta", 301))["scope"] == "signatory"

    async def test_future_periods_are_projections_and_past_ones_are_history(self, client):
        await register(client, "alpha", 1000)
        assert (await allocations(client, "2026-06"))["projected"] is True
        resp = await client.post("/v1/allocations/recompute", json={"period": "2026-03"}, headers=auth("admin"))
        assert resp.status == 409
        resp = await client.post("/v1/allocations/recompute", json={"period": "2026-06"}, headers=auth("admin"))
        assert resp.status == 200 and (await resp.json())["projected"] is False
        assert (await allocations(client, "2026-06"))["projected"] is False

    async def test_history_keeps_every_computation(self, client):
        await register(client, "alpha", 1000)
        await register(client, "beta", 1000)
        await wait_written(client)
        store = client.app[appkeys.STORE]
        rows = await store.rows(f"SELECT period, trigger FROM {store.db}.allocations ORDER BY computed_at")
        assert ("2026-04", "registry") in rows and ("2026-04-20", "registry") in rows

    async def test_missing_population_is_an_error_that_names_it_and_keeps_the_allotments(self, client):
        await register(client, "alpha", 1000)
        before = await allocations(client)
        resp = await client.put("/v1/signatories/gamma", json={"name": "Gamma", "kind": "commune",
                                                                "joined_at": "2020-01-01"}, headers=auth("admin"))
        assert resp.status == 201  # the registry change stands
        assert (await allocations(client))["signatories"] == before["signatories"]
        resp = await client.post("/v1/allocations/recompute", json={}, headers=auth("admin"))
        assert resp.status == 409 and "gamma" in (await resp.json())["error"]["message"]


class TestBorrowing:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, pool("weighted", "borrowing = true"))

    async def test_with_borrowing_a_signatory_is_allowed_until_the_pool_is_full(self, client):
        await register(client, "alpha", 3000)
        await register(client, "beta", 1000)
        assert (await check(client, "beta", 900))["allowed"]
        last = await check(client, "beta", 101)
        assert last["allowed"] is False and last["scope"] == "pool"


class TestReserved:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, pool("reserved", "reserved_fraction = 0.5"))

    async def test_guarantee_then_burst_first_come(self, client):
        await register(client, "alpha", 1000)
        await register(client, "beta", 1000)
        doc = await allocations(client)
        assert doc["signatories"]["alpha"]["api_calls"] == 225 and doc["burst"]["api_calls"] == 450
        assert (await check(client, "alpha", 225 + 450))["allowed"]  # its guarantee and the whole burst
        assert not (await check(client, "alpha"))["allowed"]
        assert (await check(client, "beta", 225))["allowed"]  # beta's guarantee is still there
        assert not (await check(client, "beta"))["allowed"]


async def test_simulate_endpoint(client):
    body = {"policy": "max_min_fair", "cap": 100, "signatories": [
        {"id": "a", "weight": 1, "demand": 10}, {"id": "b", "weight": 1, "demand": 50}, {"id": "c", "weight": 1}]}
    resp = await client.post("/v1/allocations/simulate", json=body, headers=auth("admin"))
    assert resp.status == 200 and (await resp.json())["allotments"] == {"a": 10, "b": 45, "c": 45}
    resp = await client.post("/v1/allocations/simulate", json={"policy": "x", "cap": -1, "signatories": []},
                             headers=auth("admin"))
    assert resp.status == 400
    assert {d["field"] for d in (await resp.json())["error"]["details"]} == {"policy", "cap", "signatories"}


async def test_policy_none_has_no_allotments(client):
    doc = await allocations(client)
    assert doc["policy"] == "none" and doc["signatories"] == {}


def test_clock_is_mid_april(clock):
    assert clock.now() == datetime(2026, 4, 20, 12, tzinfo=UTC)


class TestMaxMinFair:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, pool("max_min_fair", 'demand = { api_calls = { "beta" = 300 } }'))

    async def test_demand_is_forecast_from_history_and_overrides_win(self, client):
        await register(client, "alpha", 1000)
        await register(client, "beta", 1000)
        await register(client, "gamma", 1000)
        events = [{"specversion": "1.0", "id": f"h{m}", "source": "gw", "type": "api.call",
                   "time": f"2026-0{m}-10T10:00:00Z", "subject": "alpha", "data": {"count": 100}} for m in (1, 2, 3)]
        resp = await client.post("/v1/events", json=events, headers=auth("producer"))
        assert (await resp.json())["accepted"] == 3
        await wait_written(client)
        resp = await client.post("/v1/allocations/recompute", json={"period": "2026-04"}, headers=auth("admin"))
        assert resp.status == 200, await resp.text()
        shares = {sid: per["api_calls"] for sid, per in (await resp.json())["signatories"].items()}
        # alpha: mean of its last 3 months (100) + 10 % = 110; beta: the override; gamma: no
        # history, so unbounded: it gets what the others leave (900 - 110 - 300)
        assert shares == {"alpha": 110, "beta": 300, "gamma": 490, "unattributed": 100}

    async def test_a_quiet_month_counts_as_zero_in_the_forecast(self, client):
        await register(client, "alpha", 1000)
        await register(client, "gamma", 1000)
        events = [{"specversion": "1.0", "id": f"q{m}", "source": "gw", "type": "api.call",
                   "time": f"2026-0{m}-10T10:00:00Z", "subject": "alpha", "data": {"count": 300}} for m in (1, 3)]
        assert (await (await client.post("/v1/events", json=events, headers=auth("producer"))).json())["accepted"] == 2
        await wait_written(client)
        resp = await client.post("/v1/allocations/recompute", json={"period": "2026-04"}, headers=auth("admin"))
        shares = {sid: per["api_calls"] for sid, per in (await resp.json())["signatories"].items()}
        assert shares["alpha"] == 220  # (300 + 0 + 300) / 3 + 10 %; skipping February would give 330


class TestAfterRedisLoss:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, pool("weighted"))

    async def test_registry_and_allotments_come_back_before_deciding(self, client, redis_client, pool_id):
        from tests.conftest import delete_pool_keys

        await register(client, "alpha", 3000)
        await register(client, "beta", 1000)
        await wait_written(client)
        await delete_pool_keys(redis_client, pool_id)  # Redis lost everything of this pool
        assert (await check(client, "beta", 225))["allowed"]
        denied = await check(client, "beta")
        assert denied["scope"] == "signatory" and denied["limit"] == 225
