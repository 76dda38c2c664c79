"""The mailed monthly report carries a fresh link to the partner's page (DESIGN §8, §11), valid
until 7 days after the next report; the pool's report carries a link to the pool's page."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from meter.config.settings import Settings
from meter.http import appkeys
from tests import portal_data
from tests.conftest import REDIS_URL, auth

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
URL = re.compile(r"http://127\.0\.0\.1:8080/portal/[A-Za-z0-9_-]{43,}")


def reports(smtp, to: str) -> list:
    return [m for m in smtp.catcher.to(to) if m["X-Meter-Report"]]  # not the alerts


@pytest.fixture
def settings(tmp_path, smtp):
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10, scheduler=False,
                    smtp_url=smtp.url, mail_from="meter@pool.example")


@pytest.fixture
def config(pool_id):
    return portal_data.config(pool_id)


async def test_each_mailed_report_carries_a_fresh_link_to_its_page(client, clock, smtp):
    await portal_data.seed(client, clock)
    clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    resp = await client.post("/v1/reports/2026-11/send", json={}, headers=auth("admin"))
    assert resp.status == 202, await resp.text()
    await client.app[appkeys.REPORTS].wait_idle()
    [msg] = reports(smtp, "contact@sancerre.example")
    text = msg.get_body(("plain",)).get_content()
    assert "Votre page en ligne" in text and "valable jusqu'au 8 janvier 2027" in text
    [url] = URL.findall(text)
    assert url in msg.get_body(("html",)).get_content()
    page = await client.get(urlsplit(url).path)
    assert page.status == 200 and "Mairie de Sancerre" in await page.text()
    resp = await client.get("/v1/portal/links", params={"signatory": "sancerre"}, headers=auth("admin"))
    [link] = (await resp.json())["links"]
    assert link["expires_at"] == "2027-01-08T07:00:00+01:00"  # the next report (1 January, 07:00) + 7 days
    [pool_msg] = reports(smtp, "opendata@region.example")
    [pool_url] = URL.findall(pool_msg.get_body(("plain",)).get_content())
    page = await client.get(urlsplit(pool_url).path)
    assert page.status == 200 and "tous partenaires" in await page.text()
    others = {u for sid in ("vierzon", "pays-fort") for m in reports(smtp, f"contact@{sid}.example")
              for u in URL.findall(m.get_body(("plain",)).get_content())}
    assert len(others | {url, pool_url}) == 4  # one link each, none shared
