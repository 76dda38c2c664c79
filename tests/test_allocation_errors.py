"""Allocation errors on the real Redis and chDB: policies that use no weight never ask for a
population, and an allocation that cannot be computed is said once per cause, by the log, by
/readyz and by the ``meter_allotments_stale`` gauge."""
import logging

import pytest

from meter.http import appkeys
from tests.conftest import auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
CAPS = "[caps]\napi_calls = 1000\nupdate_bytes = 1000\nrecords = 1000\n"


def pool(policy: str) -> str:
    return CAPS + f'[allocation]\npolicy = "{policy}"\nunattributed_share = 0.1\n'


async def register(client, sid, population=None):
    body = {"name": sid.title(), "kind": "commune", "joined_at": "2020-01-01"}
    if population is not None:
        body["population"] = population
    resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
    assert resp.status in (200, 201), await resp.text()


async def readyz(client):
    resp = await client.get("/readyz")
    assert resp.status == 200, await resp.text()
    return await resp.json()


def stale_gauge(client):
    return client.app[appkeys.TELEMETRY].registry.get_sample_value("meter_allotments_stale")


class TestEqualWithoutPopulations:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, pool("equal"))

    async def test_signatories_without_a_population_share_evenly(self, client):
        await register(client, "alpha")
        await register(client, "beta")
        resp = await client.post("/v1/allocations/recompute", json={}, headers=auth("admin"))
        assert resp.status == 200, await resp.text()
        shares = {sid: per["api_calls"] for sid, per in (await resp.json())["signatories"].items()}
        assert shares == {"alpha": 450, "beta": 450, "unattributed": 100}
        assert (await readyz(client))["allotments"] == {"stale": False}
        assert stale_gauge(client) == 0


class TestStaleAllotments:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, pool("weighted"))

    async def test_logged_once_per_cause_and_shown_until_fixed(self, client, caplog):
        allocator = client.app[appkeys.ALLOCATOR]
        await register(client, "alpha", 1000)
        caplog.set_level(logging.INFO, logger="meter.allocation")
        await register(client, "gamma")  # no population under weight = "population"
        for _ in range(3):  # the 10 s refresh, three times over
            await allocator.ensure_current("schedule")
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "meter.allocation"]
        assert len(errors) == 1 and "gamma" in errors[0].error
        ready = await readyz(client)
        assert ready["status"] == "ready" and ready["allotments"]["stale"] is True
        assert "gamma" in ready["allotments"]["error"]
        assert stale_gauge(client) == 1

        await register(client, "delta")  # a new cause: said again, once
        await allocator.ensure_current("schedule")
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "meter.allocation"]
        assert len(errors) == 2 and "delta" in errors[1].error

        await register(client, "gamma", 500)  # half fixed: the cause changes, said once more
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "meter.allocation"]
        assert len(errors) == 3 and "delta" in errors[2].error and "gamma" not in errors[2].error
        await register(client, "delta", 500)
        await allocator.ensure_current("schedule")
        assert (await readyz(client))["allotments"] == {"stale": False}
        assert stale_gauge(client) == 0
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 3
        assert any("current" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
