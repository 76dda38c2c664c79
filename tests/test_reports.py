"""Monthly reports end to end on the real Redis, chDB and a real SMTP server on loopback: what
each partner receives (MIME tree, subject, recipients, chart by cid:, CSV and PDF), sending
once, a refusing mail server, a bound reader, a partner without email, and bad input."""
import asyncio
import csv
import io
from datetime import UTC, datetime

import pytest

from meter.config.settings import Settings
from meter.http import appkeys
from tests.conftest import REDIS_URL, auth, make_config, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.both_stores]
POOL_EXTRA = """[caps]
api_calls = 1000
update_bytes = 1000000
[allocation]
policy = "weighted"
unattributed_share = 0.1
[reports]
admins = ["admins@pool.example"]
[[tokens]]
role = "reader"
token = "bound-alpha-token"
signatory = "alpha"
"""
BOUND = {"Authorization": "Bearer bound-alpha-token"}
NOVEMBER = datetime(2026, 11, 10, 11, 0, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path, smtp):
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10, scheduler=False,
                    smtp_url=smtp.url, mail_from="meter@pool.example")


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, POOL_EXTRA)


@pytest.fixture
def clock(clock):
    clock.set(NOVEMBER)
    return clock


async def register(client, sid, population, emails):
    body = {"name": sid.title(), "kind": "commune", "population": population, "joined_at": "2020-01-01",
            "emails": emails}
    resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
    assert resp.status in (200, 201), await resp.text()


def event(i, subject, day, kind="api.call", data=None):
    return {"specversion": "1.0", "id": f"e{i}", "source": "test", "type": kind, "subject": subject,
            "time": f"2026-11-{day:02d}T10:00:00Z", "data": data or {"count": 10, "dataset": f"ds-{i % 3}"}}


@pytest.fixture
async def november(client, clock):
    """Three partners (gamma without email), a month of calls, then the clock in December."""
    await register(client, "alpha", 3000, ["alpha@town.example"])
    await register(client, "beta", 1000, ["beta@town.example", "beta2@town.example"])
    await register(client, "gamma", 500, [])
    events = [event(i, "alpha" if i % 2 else "beta", 1 + i % 9) for i in range(40)]
    events.append(event(100, "alpha", 3, "dataset.records", {"dataset": "adresses", "records": 1234, "raw_bytes": 5}))
    resp = await client.post("/v1/events", json=events, headers=auth("producer"))
    assert resp.status == 202, await resp.text()
    await wait_written(client)
    clock.set(DECEMBER)
    return client


async def send(client, body=None, status=202):
    resp = await client.post("/v1/reports/2026-11/send", json=body or {}, headers=auth("admin"))
    assert resp.status == status, await resp.text()
    result = await resp.json()
    await client.app[appkeys.REPORTS].wait_idle()
    return result


async def statuses(client):
    resp = await client.get("/v1/reports/2026-11", headers=auth("reader"))
    assert resp.status == 200
    return {r["signatory"]: r for r in (await resp.json())["reports"]}


def tree(part, depth=0):
    lines = ["  " * depth + part.get_content_type()]
    if part.is_multipart():
        for sub in part.get_payload():
            lines += tree(sub, depth + 1)
    return lines


async def test_each_partner_gets_one_french_report_with_the_contract_mime_tree(november, smtp):
    assert await send(november) == {"queued": 3, "skipped": 1}  # alpha, beta, pool; gamma has no email
    [msg] = smtp.catcher.to("alpha@town.example")
    assert tree(msg) == ["multipart/mixed", "  multipart/alternative", "    text/plain", "    multipart/related",
                         "      text/html", "      image/png", "  text/csv", "  application/pdf"]
    assert msg["Subject"] == "Rapport mensuel – Alpha – novembre 2026"
    assert msg["From"] == "meter@pool.example" and msg["To"] == "alpha@town.example"
    pool_id = november.app[appkeys.CONFIG].pool.id
    assert msg["X-Meter-Report"] == f"{pool_id}/2026-11/alpha"
    html = msg.get_body(("html",)).get_content()
    image = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert 'src="cid:chart"' in html and image["Content-ID"] == "<chart>"
    assert image.get_content().startswith(b"\x89PNG")
    text = msg.get_body(("plain",)).get_content()
    assert "Appels API : 200 utilisés" in text and "\u00a0%" in text
    files = {p.get_filename(): p for p in msg.iter_attachments()}
    assert set(files) == {f"{pool_id}-2026-11-alpha.csv", f"{pool_id}-2026-11-alpha.pdf"}
    raw_csv = files[f"{pool_id}-2026-11-alpha.csv"].get_payload(decode=True)
    assert raw_csv.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw_csv.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["date", "metric", "used", "allotment"]
    calls = [r for r in rows[1:] if r[1] == "api_calls"]
    assert len(calls) == 30 and sum(int(r[2]) for r in calls) == 200  # 20 events of 10 calls
    assert {r[3] for r in calls} == {"600"}  # the month's allotment on every api_calls row
    assert [r for r in rows if r[1] == "records"] == [["2026-11-30", "records", "1234", "12000000"]]
    pdf = files[f"{pool_id}-2026-11-alpha.pdf"].get_payload(decode=True)
    assert pdf.startswith(b"%PDF") and b"DejaVu" in pdf
    [pool_msg] = smtp.catcher.to("admins@pool.example")
    assert "Classement des partenaires" in pool_msg.get_body(("plain",)).get_content()
    assert sorted(smtp.catcher.to("beta@town.example")[0]["To"].split(", ")) == ["beta2@town.example",
                                                                                  "beta@town.example"]
    found = await statuses(november)
    assert {k: v["status"] for k, v in found.items()} == {"alpha": "sent", "beta": "sent", "gamma": "no_recipient",
                                                          "pool": "sent"}
    assert found["alpha"]["message_id"] == msg["Message-ID"] and found["alpha"]["sent_at"]


async def test_sending_again_sends_nothing_unless_resend(november, smtp):
    await send(november)
    assert await send(november) == {"queued": 0, "skipped": 4}
    assert len(smtp.catcher.received) == 3
    assert await send(november, {"signatories": ["alpha"], "resend": True}) == {"queued": 1, "skipped": 0}
    first, second = smtp.catcher.to("alpha@town.example")
    assert first["Message-ID"] != second["Message-ID"]  # a new send number: a new message


async def test_a_refusing_mail_server_loses_nothing_and_doubles_nothing(november, smtp):
    smtp.catcher.refuse = True
    assert await send(november) == {"queued": 3, "skipped": 1}
    found = await statuses(november)
    assert found["alpha"]["status"] == "failed" and "451" in found["alpha"]["error"]
    telemetry = november.app[appkeys.TELEMETRY]
    assert telemetry.registry.get_sample_value("meter_mail_failures_total", {"channel": "email"}) == 3
    smtp.catcher.refuse = False
    assert await send(november) == {"queued": 3, "skipped": 1}  # the failed ones, retried now
    assert await send(november) == {"queued": 0, "skipped": 4}
    for address in ("alpha@town.example", "beta@town.example", "admins@pool.example"):
        assert len(smtp.catcher.to(address)) == 1
    assert telemetry.registry.get_sample_value("meter_reports_sent_total") == 3


async def test_a_bound_reader_reads_its_own_report_only(november):
    resp = await november.get("/v1/reports/2026-11/alpha", params={"format": "pdf"}, headers=BOUND)
    assert resp.status == 200 and resp.content_type == "application/pdf"
    assert (await resp.read()).startswith(b"%PDF")
    for other in ("beta", "pool"):
        resp = await november.get(f"/v1/reports/2026-11/{other}", headers=BOUND)
        assert resp.status == 403, other
    resp = await november.get("/v1/reports/2026-11", headers=BOUND)
    assert [r["signatory"] for r in (await resp.json())["reports"]] == ["alpha"]


async def test_the_page_carries_its_chart_as_a_data_uri_and_inlined_css(november):
    resp = await november.get("/v1/reports/2026-11/alpha", headers=auth("reader"))
    html = await resp.text()
    assert resp.status == 200 and 'src="data:image/png;base64,' in html
    assert '<h1 style="' in html  # css-inline moved the stylesheet onto the elements


async def test_a_month_without_allocation_says_so_and_the_current_month_is_provisional(november):
    resp = await november.get("/v1/reports/2026-10/alpha", params={"format": "text"}, headers=auth("reader"))
    assert "Aucune répartition n'était enregistrée" in await resp.text()
    resp = await november.get("/v1/reports/2026-12/alpha", params={"format": "text"}, headers=auth("reader"))
    assert "Rapport provisoire" in await resp.text()
    resp = await november.get("/v1/reports/2026-11/alpha", params={"format": "json"}, headers=auth("reader"))
    body = await resp.json()
    assert body["metrics"]["api_calls"] == {"used": 200, "allotment": 600, "percent": pytest.approx(33.33, 0.01),
                                            "pool_used": 400, "cap": 1000, "previous": 0}


@pytest.mark.parametrize("path, params, status", [
    ("/v1/reports/2026-13/alpha", {}, 400),
    ("/v1/reports/2026-11/alpha", {"format": "xml"}, 400),
    ("/v1/reports/2026-11/nobody", {}, 404),
    ("/v1/alerts", {"period": "yesterday"}, 400),
])
async def test_bad_reads_are_400_or_404(november, path, params, status):
    resp = await november.get(path, params=params, headers=auth("admin"))
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["type"]


async def test_bad_sends_are_refused_and_change_nothing(november, smtp, clock):
    resp = await november.post("/v1/reports/2026-11/send", json={"resend": "yes", "x": 1}, headers=auth("admin"))
    details = (await resp.json())["error"]["details"]
    assert resp.status == 400 and {d["field"] for d in details} == {"resend", "x"}
    await send(november, {"signatories": ["nobody"]}, status=404)
    resp = await november.post("/v1/reports/2026-12/send", json={}, headers=auth("admin"))
    assert resp.status == 409
    resp = await november.post("/v1/reports/2026-11/send", json={}, headers=auth("reader"))
    assert resp.status == 403
    await asyncio.sleep(0)
    assert smtp.catcher.received == [] and {r["status"] for r in (await statuses(november)).values()} <= {
        "pending", "no_recipient"}


class TestWithoutMail:
    @pytest.fixture
    def settings(self, tmp_path):
        return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, scheduler=False)

    async def test_reports_are_readable_but_sending_is_a_409(self, november):
        resp = await november.get("/v1/reports/2026-11/pool", params={"format": "csv"}, headers=auth("admin"))
        assert resp.status == 200 and (await resp.read()).startswith(b"\xef\xbb\xbfdate;metric;used;allotment")
        resp = await november.post("/v1/reports/2026-11/send", json={}, headers=auth("admin"))
        assert resp.status == 409 and "METER_SMTP_URL" in (await resp.json())["error"]["message"]
