"""Quota alerts on the real Redis and a real SMTP server: thresholds and forecasts driven by an
injected clock, fired once per key across restarts, delivered by email and by a webhook signed
as Standard Webhooks says (checked here with the specification's own recipe)."""
import base64
import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from meter.alerts import rules
from meter.alerts.service import Alerts
from meter.config.settings import Settings
from meter.core.periods import Period
from meter.http import appkeys
from tests.conftest import REDIS_URL, auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
PARIS = ZoneInfo("Europe/Paris")


def test_thresholds_crossed_at_or_above_their_share():
    assert rules.crossed(79, 100, [80, 90, 100]) == []
    assert rules.crossed(80, 100, [80, 90, 100]) == [80]
    assert rules.crossed(1000, 100, [80, 90, 100]) == [80, 90, 100]
    assert rules.crossed(5, 0, [80]) == []


def test_forecast_waits_for_a_tenth_of_the_period_and_names_the_local_date():
    march = Period("month", date(2026, 3, 1), PARIS)  # 743 hours: the clocks go forward on the 29th
    early = datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert rules.exhaustion(500, 1000, march, early) is None  # under 10 % of the month
    tenth = datetime(2026, 3, 10, 22, tzinfo=UTC)  # 9 days 23 hours after local midnight
    assert rules.exhaustion(500, 1000, march, tenth) == date(2026, 3, 20)
    assert rules.exhaustion(100, 1000, march, tenth) is None  # would last past the month's end
    assert rules.exhaustion(1000, 1000, march, tenth) is None  # used up: the 100 % threshold says so
    assert rules.exhaustion(1, 10**15, march, tenth) is None  # years past 9999: no OverflowError (make soak)


@pytest.fixture
async def hook(aiohttp_server):
    received = []

    async def handle(request):
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = await aiohttp_server(app)
    server.received = received
    return server


@pytest.fixture
def settings(tmp_path, smtp):
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10, scheduler=False,
                    smtp_url=smtp.url, mail_from="meter@pool.example")


@pytest.fixture
def config(pool_id, hook):
    return make_config(pool_id, f"""[caps]
api_calls = 1000
[allocation]
policy = "weighted"
unattributed_share = 0.1
[reports]
admins = ["admins@pool.example"]
[alerts]
thresholds = [80, 100]
webhook_url = "{hook.make_url('/hook')}"
webhook_secret = "{SECRET}"
""")


async def register(client, sid, population, emails):
    body = {"name": sid.title(), "kind": "commune", "population": population, "joined_at": "2020-01-01",
            "emails": emails}
    assert (await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))).status == 201


async def use(client, sid, amount):
    resp = await client.post("/v1/check", json={"signatory": sid, "metric": "api_calls", "amount": amount},
                             headers=auth("gateway"))
    assert (await resp.json())["allowed"]


def verify(headers, body):
    """The Standard Webhooks check, written from the specification."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == f"v1,{expected}"


async def test_crossing_80_percent_fires_once_by_email_and_signed_webhook(client, clock, smtp, hook):
    clock.set(datetime(2026, 4, 2, 12, tzinfo=UTC))  # under 10 % of April: no forecast yet
    await register(client, "alpha", 3000, ["alpha@town.example"])
    await register(client, "beta", 1000, ["beta@town.example"])  # allotment 225
    await use(client, "beta", 179)
    alerts = client.app[appkeys.ALERTS]
    assert await alerts.check() == 0
    await use(client, "beta", 1)  # 180 = 80 % of 225
    assert await alerts.check() == 1
    assert await alerts.check() == 0  # once
    [msg] = smtp.catcher.to("beta@town.example")
    assert msg["Subject"] == "Alerte quota – Beta – appels API à 80\u00a0%"
    [(headers, body)] = hook.received
    assert verify(headers, body)
    payload = json.loads(body)
    assert payload["type"] == "quota.threshold" and payload["data"]["signatory"] == "beta"
    assert payload["data"]["threshold"] == 80 and payload["data"]["used"] == 180 and payload["data"]["limit"] == 225
    assert client.app[appkeys.TELEMETRY].registry.get_sample_value(
        "meter_alerts_fired_total", {"type": "threshold", "scope": "signatory"}) == 1
    # a restarted process (a new Alerts on the same Redis) does not fire it again
    again = Alerts(alerts.store, alerts.counters, alerts.allotments, alerts.registry, alerts.config, clock,
                   alerts.outbox, alerts.mail, alerts.telemetry)
    assert await again.check() == 0
    resp = await client.get("/v1/alerts", params={"period": "2026-04"}, headers=auth("reader"))
    [listed] = (await resp.json())["alerts"]
    assert listed["delivered"] == {"email": "sent", "webhook": "sent"} and listed["scope"] == "signatory"


async def test_a_forecast_names_the_day_the_share_runs_out(client, clock, smtp):
    clock.set(datetime(2026, 4, 7, 22, tzinfo=UTC))  # 7 days into April (Paris)
    await register(client, "alpha", 3000, ["alpha@town.example"])
    await use(client, "alpha", 280)  # 40 a day: its 900 (it is alone) gone after 22.5 days
    assert await client.app[appkeys.ALERTS].check() == 2  # alpha's share, and the pool's cap (on the 26th)
    [msg] = smtp.catcher.to("alpha@town.example")
    assert msg["Subject"] == "Alerte quota – Alpha – appels API : épuisement prévu le 23 avril 2026"
    [pool_msg] = smtp.catcher.to("admins@pool.example")
    assert pool_msg["Subject"].endswith("épuisement prévu le 26 avril 2026")
    resp = await client.get("/v1/alerts", params={"period": "2026-04", "signatory": "alpha"}, headers=auth("reader"))
    [listed] = (await resp.json())["alerts"]
    assert listed["type"] == "forecast" and listed["exhaustion_date"] == "2026-04-23"
    assert "threshold" not in listed and listed["delivered"]["email"] == "sent"


async def test_pool_alerts_go_to_the_admins_with_no_signatory(client, clock, smtp):
    clock.set(datetime(2026, 4, 2, 12, tzinfo=UTC))
    await register(client, "alpha", 3000, ["alpha@town.example"])  # 675
    await register(client, "beta", 1000, [])  # 225, and nobody to tell
    await use(client, "alpha", 600)
    await use(client, "beta", 200)  # the pool: 800 of 1000
    assert await client.app[appkeys.ALERTS].check() == 3  # alpha 80 %, beta 80 %, the pool 80 %
    [msg] = smtp.catcher.to("admins@pool.example")
    assert msg["Subject"].startswith("Alerte quota – ") and msg["Subject"].endswith("appels API à 80\u00a0%")
    resp = await client.get("/v1/alerts", headers=auth("reader"))
    listed = {(a["scope"], a["signatory"]): a for a in (await resp.json())["alerts"]}
    assert set(listed) == {("signatory", "alpha"), ("signatory", "beta"), ("pool", None)}
    assert listed[("signatory", "beta")]["delivered"]["email"] == "no_recipient"
    assert listed[("pool", None)]["limit"] == 1000
