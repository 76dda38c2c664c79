"""``meter collect ods`` against a fake ODS portal, into the real app (real Redis and chDB).

``FakeOdsPortal`` is a local stand-in for an OpenDataSoft portal, which cannot be reached from
here: an aiohttp app that serves the Explore API v2.1 catalogue export in the documented shape
(metadata templates included), and can answer a wrong key with 401, fail with 500 or send
invalid JSON.
"""
from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web

from meter.collectors.ods import EXPORT_PATH, CatalogueError, OdsState, poll_once
from meter.collectors.ods_job import OdsPoll
from meter.collectors.sender import MeterClient
from meter.http import appkeys
from tests.conftest import TOKENS, auth, make_config, wait_written
from tests.service import ROOT
from tests.test_events_api import register

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
KEY = "secret-key"
T1, T2 = "2026-04-02T08:00:00+00:00", "2026-04-10T09:30:00+00:00"


class FakeOdsPortal:
    """The portal's catalogue export; ``answer`` picks a failure ('401' is the wrong key's)."""

    def __init__(self) -> None:
        self.datasets: dict[str, dict] = {}
        self.answer = "ok"  # ok | 500 | badjson | empty
        self.app = web.Application()
        self.app.router.add_get(EXPORT_PATH, self.export)

    async def export(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Apikey {KEY}":
            return web.json_response({"error_code": "InvalidAPIKey"}, status=401)
        if self.answer == "500":
            return web.json_response({"error": "boom"}, status=500)
        if self.answer == "badjson":
            return web.Response(text='[{"dataset_id": "a",', content_type="application/json")
        return web.json_response([] if self.answer == "empty" else list(self.datasets.values()))

    def put(self, dataset_id: str, records: int | None, size: int | None, publisher: str, processed: str | None):
        default = {"publisher": publisher, "title": dataset_id}
        if records is not None:
            default["records_count"] = records
        if processed is not None:
            default["data_processed"] = processed
        metas: dict = {"default": default}
        if size is not None:
            metas["processing"] = {"records_size": size}
        self.datasets[dataset_id] = {"dataset_id": dataset_id, "metas": metas}


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, '[collectors.ods]\npublishers = { "Département du Loiret" = "loiret" }\n')


@pytest.fixture
async def portal(aiohttp_server):
    fake = FakeOdsPortal()
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def poll(client, portal, tmp_path):
    """One poll over HTTP into the app, as the command does; returns its PollResult."""
    _, url = portal
    session = aiohttp.ClientSession()
    meter = MeterClient(session, str(client.make_url("")), TOKENS["producer"], asyncio.Event())

    async def sink(events):
        sent = await meter.send(events)
        return sent.accepted, sent.duplicates, sent.refused

    async def once(apikey=KEY):
        clock = client.app[appkeys.CLOCK]
        clock.set(clock.now() + timedelta(minutes=15))  # one poll per interval
        return await poll_once(session, url, apikey, OdsState(tmp_path / "ods.json", url), sink, clock.now())

    yield once
    await session.close()


async def records(client):
    await wait_written(client)
    resp = await client.get("/v1/pool", params={"period": "2026-04"}, headers=auth("reader"))
    metrics = (await resp.json())["metrics"]
    return metrics["records"]["by_signatory"], metrics["raw_bytes"]["used"]


async def test_catalogue_changes_move_the_records_totals(client, portal, poll, tmp_path):
    fake, _ = portal
    await register(client, "loiret")
    await register(client, "cher")  # named "Cher"
    fake.put("arrets", 100, 5_000, "Département du Loiret", T1)
    fake.put("federe", None, None, "Cher", T1)  # no records_count, no processing meta: 0 and 0
    fake.put("bus", 7, 70, "Cher", None)  # no data_processed: dated by the poll
    fake.put("Bus", 11, 0, "Ville inconnue", T1)  # ids are case sensitive: another dataset
    first = await poll()
    # each dataset's snapshot and its metadata (DESIGN §12)
    assert (first.accepted, first.duplicates, first.datasets, first.deleted, first.metadata) == (8, 0, 4, 0, 4)
    assert await records(client) == ({"loiret": 100, "cher": 7, "unattributed": 11}, 5_070)
    assert (await poll()).accepted == 0  # nothing changed: the same ids are duplicates, or not sent

    fake.put("arrets", 150, 6_000, "Département du Loiret", T2)  # processed again
    del fake.datasets["bus"]
    second = await poll()
    assert (second.accepted, second.deleted, second.metadata) == (3, 1, 1)  # arrets' data changed: its metadata too
    assert await records(client) == ({"loiret": 150, "unattributed": 11}, 6_000)

    fake.put("bus", 7, 70, "Cher", None)  # back after its deletion: a new snapshot
    assert (await poll()).accepted == 2
    assert await records(client) == ({"loiret": 150, "cher": 7, "unattributed": 11}, 6_070)
    del fake.datasets["bus"]
    assert (await poll()).deleted == 1  # its second deletion has an id of its own
    assert (await records(client))[0] == {"loiret": 150, "unattributed": 11}


@pytest.mark.parametrize("answer, apikey, reason", [
    ("ok", "wrong-key", "HTTP 401"), ("500", KEY, "HTTP 500"), ("badjson", KEY, "not valid JSON"),
    ("empty", KEY, "empty"),
])
async def test_a_failed_poll_changes_nothing(client, portal, poll, tmp_path, answer, apikey, reason):
    fake, _ = portal
    fake.put("arrets", 100, 5_000, "Département du Loiret", T1)
    await poll()
    state = (tmp_path / "ods.json").read_bytes()
    fake.answer = answer
    with pytest.raises(CatalogueError, match=reason):
        await poll(apikey)
    assert (tmp_path / "ods.json").read_bytes() == state  # no dataset taken for deleted
    assert await records(client) == ({"unattributed": 100}, 5_000)


async def test_the_scheduled_job_polls_into_the_ingestor(client, portal, tmp_path, caplog):
    fake, url = portal
    await register(client, "loiret")
    fake.put("arrets", 42, 420, "Département du Loiret", T1)
    job = OdsPoll(url, KEY, tmp_path, client.app[appkeys.INGESTOR], client.app[appkeys.CLOCK])
    await job()
    assert await records(client) == ({"loiret": 42, "unattributed": 0}, 420)
    fake.answer = "500"
    await job()  # logged, not raised: the next run tries again
    assert "ods poll failed" in caplog.text


async def test_the_command_reports_a_refused_key_and_exits_1(portal, tmp_path):
    _, url = portal
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meter", "collect", "ods", "--portal", url, "--apikey", "wrong",
        "--url", "http://127.0.0.1:9", "--token", "t", "--state", str(tmp_path / "state"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 1 and b"HTTP 401" in err and not out
    assert not (tmp_path / "state" / "ods.json").exists()


def full_metas(title: str, publisher: str, **dcat) -> dict:
    """The metadata templates of a dataset as a regional portal exports them (HTML description,
    lists, DCAT dates); ``dcat`` keys override the DCAT template's."""
    return {
        "default": {"title": title, "publisher": publisher, "description": "<p>Horaires des <b>bus</b>.</p>",
                    "theme": ["Transports"], "keyword": ["bus", "horaires"], "license": "Licence Ouverte v2.0",
                    "modified": T1, "data_processed": T1, "metadata_processed": T1, "territory": ["Loiret"],
                    "records_count": 10},
        "dcat": {"created": "2019-01-01T00:00:00+00:00", "issued": "2019-01-02T00:00:00+00:00",
                 "accrualperiodicity": "Mensuelle", "spatial": None, "granularity": "Arrêt", **dcat},
        "processing": {"records_size": 100},
    }


async def test_metadata_is_stored_latest_per_dataset_and_a_deletion_drops_it(client, portal, poll):
    from meter.compliance.service import compliance_for, pool_compliance

    fake, _ = portal
    await register(client, "loiret")
    store, clock = client.app[appkeys.STORE], client.app[appkeys.CLOCK]
    fake.datasets["bus"] = {"dataset_id": "bus", "metas": full_metas("Bus", "Département du Loiret")}
    incomplete = full_metas("Cars", "Département du Loiret", granularity=None)
    incomplete["default"]["keyword"] = []
    incomplete["default"]["description"] = "<p><br></p>"
    fake.datasets["cars"] = {"dataset_id": "cars", "metas": incomplete}
    assert (await poll()).metadata == 2
    await wait_written(client)
    found = await compliance_for(store, client.app[appkeys.CONFIG].pool.id, "loiret", clock.now())
    assert [(c.dataset, c.missing) for c in found.datasets] == [
        ("bus", []), ("cars", ["description", "keyword", "granularity"])]
    assert found.datasets[0].frequency == "Mensuelle" and found.datasets[0].last_update.isoformat() == T1
    assert (await poll()).metadata == 0  # nothing changed: nothing sent

    # the metadata changed (the portal stamps metadata_processed): the new one wins
    fixed = full_metas("Cars", "Département du Loiret")
    fixed["default"]["metadata_processed"] = T2
    fake.datasets["cars"] = {"dataset_id": "cars", "metas": fixed}
    assert (await poll()).metadata == 1
    await wait_written(client)
    pool = client.app[appkeys.CONFIG].pool.id
    found = await compliance_for(store, pool, "loiret", clock.now())
    assert [c.missing for c in found.datasets] == [[], []] and found.summary.complete == 2

    del fake.datasets["bus"]
    await poll()
    await wait_written(client)
    found = await compliance_for(store, pool, "loiret", clock.now())
    assert [c.dataset for c in found.datasets] == ["cars"]
    fake.datasets["bus"] = {"dataset_id": "bus", "metas": full_metas("Bus", "Département du Loiret")}
    assert (await poll()).metadata == 1  # back: its metadata again, under an id of its own
    await wait_written(client)
    assert [c.dataset for c in (await compliance_for(store, pool, "loiret", clock.now())).datasets] == ["bus", "cars"]
    summaries = await pool_compliance(store, pool, clock.now())
    assert {s: (v.datasets, v.complete) for s, v in summaries.items()} == {"loiret": (2, 2)}


async def test_an_export_past_the_size_cap_fails_without_being_read_whole(client, tmp_path, aiohttp_server):
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:  # a portal that never stops
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b"[")
        entry = b'{"dataset_id": "x", "metas": {"default": {"records_count": 1}}},'
        try:
            while sent < 50_000_000:
                await resp.write(entry * 1000)
                sent += len(entry) * 1000
        except ConnectionError:
            pass
        return resp

    app = web.Application()
    app.router.add_get(EXPORT_PATH, endless)
    server = await aiohttp_server(app)
    url = str(server.make_url("")).rstrip("/")

    async def sink(events):
        raise AssertionError("nothing may be sent")

    async with aiohttp.ClientSession() as session:
        with pytest.raises(CatalogueError, match="larger than 1000000 bytes"):
            await poll_once(session, url, "", OdsState(tmp_path / "ods.json", url), sink,
                            client.app[appkeys.CLOCK].now(), max_bytes=1_000_000)
    assert sent < 10_000_000 and not (tmp_path / "ods.json").exists()


async def test_refused_datasets_are_counted_and_the_command_exits_1(client, portal, tmp_path):
    from datetime import UTC, datetime

    client.app[appkeys.CLOCK].set(datetime.now(UTC))  # the command stamps its events with the real time
    fake, url = portal
    fake.put("arrets", 100, 5_000, "Département du Loiret", T1)
    fake.put("d" * 300, 7, 70, "Département du Loiret", T1)  # a name the meter refuses (over 256)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meter", "collect", "ods", "--portal", url, "--apikey", KEY,
        "--url", str(client.make_url("")), "--token", TOKENS["producer"], "--state", str(tmp_path / "state"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 1, err
    assert b"2 datasets" in out and b"2 refused" in out  # its snapshot and its metadata
    assert (await records(client))[0] == {"unattributed": 100}
