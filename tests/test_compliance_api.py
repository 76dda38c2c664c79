"""GET /v1/compliance and dataset.metadata events through the real app (real Redis and chDB), DESIGN §12."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import auth, make_config, wait_written
from tests.test_collect_ods import full_metas
from tests.test_events_api import register

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
BOUND_TOKENS = """
[collectors.ods]
publishers = { "Département du Loiret" = "loiret" }
[[tokens]]
role = "reader"
token = "bound-loiret-reader"
signatory = "loiret"
[[tokens]]
role = "producer"
token = "bound-cher-producer"
signatory = "cher"
"""
BOUND_READER = {"Authorization": "Bearer bound-loiret-reader"}
BOUND_PRODUCER = {"Authorization": "Bearer bound-cher-producer"}


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, BOUND_TOKENS)


@pytest.fixture
def clock(clock):
    clock.set(NOW)
    return clock


def metadata(dataset: str, metas: dict, last_update: str | None, event_id: str | None = None,
             subject: str | None = None, publisher: str | None = "Département du Loiret",
             time: str = "2026-11-20T09:45:00Z") -> dict:
    data: dict = {"dataset": dataset, "metas": metas}
    if publisher:
        data["publisher"] = publisher
    if last_update:
        data["last_update"] = last_update
    ev = {"specversion": "1.0", "id": event_id or f"{dataset}@meta-1", "source": "ods", "type": "dataset.metadata",
          "time": time, "data": data}
    if subject:
        ev["subject"] = subject
    return ev


async def post(client, events, headers=None):
    return await client.post("/v1/events", json=events, headers=headers or auth("producer"))


async def compliance(client, headers=None, **params):
    resp = await client.get("/v1/compliance", params=params, headers=headers or auth("reader"))
    return resp.status, await resp.json()


@pytest.fixture
async def catalogue(client):
    """loiret: a complete dataset, an incomplete one and a late one; cher: one with a bad frequency;
    one dataset of an unknown publisher."""
    await register(client, "loiret")
    await register(client, "cher")
    await register(client, "indre")  # no dataset yet
    incomplete = full_metas("Cars", "Département du Loiret")
    incomplete["default"].update(keyword=[], description="<p><br></p>")
    del incomplete["dcat"]  # a portal without the DCAT template: territory is the coverage
    bad = full_metas("Parkings", "Cher", accrualperiodicity="Tous les mois")
    events = [
        metadata("bus", full_metas("Bus <i>urbains</i>", "Département du Loiret"), "2026-11-02T08:00:00+00:00"),
        metadata("cars", incomplete, "2026-11-02T08:00:00+00:00"),
        metadata("trains", full_metas("Trains", "Département du Loiret"), "2026-09-01T00:00:00+00:00"),
        metadata("parkings", bad, "2026-11-01T00:00:00+00:00", subject="cher", publisher=None),
        metadata("velos", full_metas("Vélos", "Ville inconnue"), None, publisher="Ville inconnue"),
    ]
    resp = await post(client, events)
    assert resp.status == 202, await resp.text()
    assert await resp.json() == {"accepted": 5, "duplicates": 0}
    await wait_written(client)
    return client


async def test_a_signatory_s_datasets_with_what_is_missing_and_what_is_late(catalogue):
    status, body = await compliance(catalogue, signatory="loiret")
    assert status == 200
    assert body["signatory"] == "loiret" and body["checked_at"] == "2026-11-20T10:00:00+00:00"
    assert body["datasets"] == [
        {"dataset": "bus", "title": "Bus urbains", "missing": [], "invalid": [], "frequency": "Mensuelle",
         "last_update": "2026-11-02T08:00:00+00:00", "late": False, "due": "2026-12-12T08:00:00+00:00"},
        {"dataset": "cars", "title": "Cars", "missing": ["description", "created", "issued", "keyword",
                                                         "frequency", "granularity"],
         "invalid": [], "frequency": None, "last_update": "2026-11-02T08:00:00+00:00", "late": False, "due": None},
        {"dataset": "trains", "title": "Trains", "missing": [], "invalid": [], "frequency": "Mensuelle",
         "last_update": "2026-09-01T00:00:00+00:00", "late": True, "due": "2026-10-11T00:00:00+00:00"},
    ]
    assert body["summary"] == {"datasets": 3, "complete": 2, "late": 1}


async def test_an_invalid_frequency_is_named_with_its_reason(catalogue):
    _, body = await compliance(catalogue, signatory="cher")
    [parkings] = body["datasets"]
    assert parkings["invalid"][0]["field"] == "frequency" and "Tous les mois" in parkings["invalid"][0]["reason"]
    assert parkings["frequency"] == "Tous les mois" and parkings["missing"] == []
    assert body["summary"] == {"datasets": 1, "complete": 0, "late": 0}


async def test_the_pool_view_summarises_every_signatory(catalogue):
    status, body = await compliance(catalogue, headers=auth("admin"))
    assert status == 200
    assert body["signatories"] == {"cher": {"datasets": 1, "complete": 0, "late": 0},
                                   "indre": {"datasets": 0, "complete": 0, "late": 0},
                                   "loiret": {"datasets": 3, "complete": 2, "late": 1}}
    # velos: no last_update in the event, its metas say April (data_processed): late
    assert body["unattributed"] == {"datasets": 1, "complete": 1, "late": 1}
    assert body["pool"] and body["checked_at"]
    assert (await compliance(catalogue))[1]["signatories"] == body["signatories"]  # an unbound reader too


async def test_no_dataset_yet_and_unknown_signatory(catalogue):
    assert await compliance(catalogue, signatory="indre") == (200, {
        "signatory": "indre", "checked_at": "2026-11-20T10:00:00+00:00", "datasets": [],
        "summary": {"datasets": 0, "complete": 0, "late": 0}})
    status, body = await compliance(catalogue, signatory="nobody")
    assert status == 404 and body["error"]["type"] == "not_found"
    status, body = await compliance(catalogue, signatory="unattributed")
    assert status == 200 and [d["dataset"] for d in body["datasets"]] == ["velos"]


async def test_a_bound_reader_sees_its_own_only(catalogue):
    status, body = await compliance(catalogue, headers=BOUND_READER)
    assert status == 200 and body["signatory"] == "loiret" and len(body["datasets"]) == 3
    assert (await compliance(catalogue, headers=BOUND_READER, signatory="loiret"))[0] == 200
    status, body = await compliance(catalogue, headers=BOUND_READER, signatory="cher")
    assert status == 403 and "cher" not in str(body["error"].get("details", ""))


@pytest.mark.parametrize("role, status", [("gateway", 403), ("producer", 403)])
async def test_roles_that_may_not_read(catalogue, role, status):
    assert (await compliance(catalogue, headers=auth(role)))[0] == status
    resp = await catalogue.get("/v1/compliance")
    assert resp.status == 401


async def test_latest_metadata_wins_duplicates_change_nothing_and_a_deletion_drops_it(catalogue):
    fixed = full_metas("Cars", "Département du Loiret")
    resp = await post(catalogue, [metadata("cars", fixed, "2026-11-19T08:00:00+00:00", "cars@meta-2",
                                           time="2026-11-20T09:46:00Z"),  # a later poll
                                  metadata("bus", {}, None, "bus@meta-1")])  # the same id again: a duplicate
    assert await resp.json() == {"accepted": 1, "duplicates": 1}
    await wait_written(catalogue)
    _, body = await compliance(catalogue, signatory="loiret")
    assert {d["dataset"]: d["missing"] for d in body["datasets"]} == {"bus": [], "cars": [], "trains": []}
    deleted = {"specversion": "1.0", "id": "trains@deleted-1", "source": "ods", "type": "dataset.deleted",
               "time": "2026-11-20T09:50:00Z", "data": {"dataset": "trains", "publisher": "Département du Loiret"}}
    assert (await post(catalogue, [deleted])).status == 202
    await wait_written(catalogue)
    _, body = await compliance(catalogue, signatory="loiret")
    assert [d["dataset"] for d in body["datasets"]] == ["bus", "cars"]
    assert body["summary"] == {"datasets": 2, "complete": 2, "late": 0}


async def test_metadata_counts_against_no_quota(catalogue):
    resp = await catalogue.get("/v1/pool", params={"period": "2026-11"}, headers=auth("reader"))
    metrics = (await resp.json())["metrics"]
    assert all(m["used"] == 0 for m in metrics.values())


async def test_a_bound_producer_sends_metadata_for_its_own_signatory_only(catalogue):
    mine = metadata("stades", full_metas("Stades", "Cher"), None, "stades@meta-1", subject="cher", publisher=None)
    theirs = metadata("piscines", full_metas("Piscines", "Département du Loiret"), None, "piscines@meta-1")
    resp = await post(catalogue, [mine, theirs], BOUND_PRODUCER)
    assert resp.status == 403
    assert [d["index"] for d in (await resp.json())["error"]["details"]] == [1]
    resp = await post(catalogue, [mine], BOUND_PRODUCER)
    assert resp.status == 202


@pytest.mark.parametrize("bad, field", [
    ({"dataset": "x", "publisher": "P"}, "metas"),
    ({"dataset": "x", "publisher": "P", "metas": []}, "metas"),
    ({"publisher": "P", "metas": {}}, "dataset"),
    ({"dataset": "x", "metas": {}}, "subject"),
    ({"dataset": "x", "publisher": "P", "metas": {}, "last_update": ""}, "last_update"),
])
async def test_malformed_metadata_events_are_refused_with_their_field(catalogue, bad, field):
    ev = {"specversion": "1.0", "id": "bad", "source": "ods", "type": "dataset.metadata",
          "time": "2026-11-20T09:45:00Z", "data": bad}
    resp = await post(catalogue, [ev])
    assert resp.status == 400
    assert any(field in d["field"] for d in (await resp.json())["error"]["details"])


async def test_a_bound_producer_may_not_send_metadata_for_another_s_dataset(catalogue):
    """Stock ownership (DESIGN §4): the dataset belongs to the signatory of its latest snapshot."""
    snapshot = {"specversion": "1.0", "id": "stades@1", "source": "ods", "type": "dataset.records",
                "time": "2026-11-20T09:00:00Z", "data": {"dataset": "stades", "records": 5, "raw_bytes": 50,
                                                          "publisher": "Département du Loiret"}}
    assert (await post(catalogue, [snapshot])).status == 202
    mine = metadata("parcs", full_metas("Parcs", "Cher"), None, "parcs@meta-1", subject="cher", publisher=None)
    theirs = metadata("stades", full_metas("Stades", "Cher"), None, "stades@meta-1", subject="cher", publisher=None)
    resp = await post(catalogue, [mine, theirs], BOUND_PRODUCER)
    assert resp.status == 409
    assert (await resp.json())["error"]["type"] == "not_owner"
    await wait_written(catalogue)
    _, body = await compliance(catalogue, signatory="cher")
    assert [d["dataset"] for d in body["datasets"]] == ["parkings"]  # nothing of the batch was taken
    assert (await post(catalogue, [mine], BOUND_PRODUCER)).status == 202
