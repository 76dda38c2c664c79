"""Bad input found by fuzzing the running service: each case is a 4xx that names the problem,
never a 500, and changes nothing (real Redis and chDB)."""
import asyncio

import pytest

from meter.config.settings import MAX_INT
from tests.conftest import auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
BIG = MAX_INT  # the largest amount an event may carry


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, '[enforcement]\nenforce = false\n')  # shadow mode: nothing is denied


def bytes_event(i, amount):
    return {"specversion": "1.0", "id": f"big-{i}", "source": "fuzz", "type": "update.bytes",
            "time": "2026-04-20T10:00:00Z", "subject": "x", "data": {"bytes": amount, "kind": "data"}}


async def post(client, path, body, role="admin", status=400, **kw):
    resp = await client.post(path, json=body, headers=auth(role), **kw)
    assert resp.status == status, (body, await resp.text())
    return await resp.json()


async def used(client, metric="update_bytes"):
    return (await post(client, "/v1/check", {"signatory": "x", "metric": metric, "amount": 0},
                       role="gateway", status=200))["used"]


async def test_amounts_that_would_pass_2_53_are_refused_whole_and_leave_no_trace(client):
    await post(client, "/v1/events", bytes_event(0, BIG - 10), role="producer", status=202)
    batch = [bytes_event(1, 5), bytes_event(2, 6)]  # each fine, together past 2^53 - 1
    err = (await post(client, "/v1/events", batch, role="producer", status=409))["error"]  # stored state: DESIGN §4
    assert err["type"] == "total_overflow" and "2^53" in err["message"]
    assert await used(client) == BIG - 10
    assert await post(client, "/v1/events", batch[:1], role="producer", status=202) == {"accepted": 1, "duplicates": 0}
    assert await used(client) == BIG - 5  # event 1 had not been marked as seen


async def test_shadow_mode_never_counts_past_2_53(client):
    first = await post(client, "/v1/check", {"signatory": "x", "metric": "update_bytes", "amount": BIG}, role="gateway",
                       status=200)
    assert first["allowed"] and first["used"] == BIG  # over the cap, but shadow mode lets it through
    second = await post(client, "/v1/check", {"signatory": "x", "metric": "update_bytes", "amount": 1},
                        role="gateway", status=200)
    assert not second["allowed"] and await used(client) == BIG


async def test_a_retry_answers_large_numbers_exactly(client):
    body = {"signatory": "x", "metric": "update_bytes", "amount": 10**15 + 3, "id": "big-one"}
    first = await post(client, "/v1/check", body, role="gateway", status=200)
    again = await post(client, "/v1/check", body, role="gateway", status=200)
    assert first["used"] == again["used"] == 10**15 + 3 and "already decided" in again["reason"]


@pytest.mark.parametrize("path, body, field", [
    ("/v1/check", {"signatory": "x", "metric": None}, "metric"),
    ("/v1/check", [{"signatory": "x", "metric": "api_calls"}, {"signatory": "x", "metric": ["api_calls"]}], "metric"),
    ("/v1/reservations", {"signatory": "x", "metric": {}, "amount": 1}, "metric"),
    ("/v1/check", [{"signatory": "x", "metric": "api_calls"}] * 1001, ""),
    ("/v1/allocations/simulate", {"policy": [], "cap": 10, "signatories": [{"id": "a"}]}, "policy"),
    ("/v1/allocations/simulate", {"policy": "weighted", "cap": 10, "signatories": [{"id": "a", "weight": 1e308}]},
     "signatories[0].weight"),
    ("/v1/allocations/simulate", {"policy": "equal", "cap": 2**64, "signatories": [{"id": "a"}]}, "cap"),
])
async def test_wrong_types_and_sizes_are_named(client, path, body, field):
    role = "gateway" if path != "/v1/allocations/simulate" else "admin"
    err = (await post(client, path, body, role=role))["error"]
    assert field in [d["field"] for d in err["details"]], err
    if isinstance(body, list) and field:  # an item of a batch is named by its index (DESIGN 4)
        assert [d.get("index") for d in err["details"] if d["field"] == field] == [1], err
    assert await used(client, "api_calls") == 0


@pytest.mark.parametrize("change, field", [
    ({"type": []}, "type"),
    ({"type": {}}, "type"),
    ({"time": "0001-01-01T00:00:00+01:00"}, "time"),
    ({"time": "9999-12-31T23:59:59-01:00"}, "time"),
])
async def test_bad_event_fields_are_named(client, change, field):
    event = {**bytes_event(9, 1), **change}
    err = (await post(client, "/v1/events", event, role="producer"))["error"]
    assert [(d["index"], d["field"]) for d in err["details"]] == [(0, field)]


@pytest.mark.parametrize("body, field", [
    ({"name": "X", "kind": "commune", "weight": 1e308}, "weight"),
    ({"name": "X", "kind": "commune", "population": 2**63}, "population"),
    ({"name": "X\x00", "kind": "commune"}, "name"),
])
async def test_absurd_signatories_are_refused(client, body, field):
    resp = await client.put("/v1/signatories/absurd", json=body, headers=auth("admin"))
    assert resp.status == 400, await resp.text()
    assert field in [d["field"] for d in (await resp.json())["error"]["details"]]
    assert (await client.get("/v1/signatories/absurd", headers=auth("admin"))).status == 404


@pytest.mark.parametrize("csv", [
    "id,name,kind,population\ncsv-h,H,commune,99999999999999999999999\n",
    "id,name,kind\n" + "".join(f"s-{i},S,commune\n" for i in range(5001)),
])
async def test_absurd_imports_are_refused(client, csv):
    resp = await client.post("/v1/signatories/import", data=csv.encode(),
                             headers={**auth("admin"), "Content-Type": "text/csv"})
    assert resp.status == 400, await resp.text()
    listed = await client.get("/v1/signatories", headers=auth("admin"))
    assert (await listed.json())["signatories"] == []


async def raw_get(client, path: str, header: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer.split(b"\r\n", 1)[0]


async def test_a_token_that_is_not_utf8_is_just_not_a_token(client):
    assert await raw_get(client, "/v1/pool", b"Authorization: Bearer d\xe9mo") == b"HTTP/1.1 401 Unauthorized"
    assert await raw_get(client, "/v1/authz", b"X-Meter-Token: \xff\xfe") == b"HTTP/1.1 401 Unauthorized"
    assert (await client.get("/v1/pool", headers=auth("reader"))).status == 200  # a real one still works


async def test_a_method_a_route_does_not_take_is_405_with_allow(client):
    for method, path, allow in (("TRACE", "/v1/check", "POST"), ("TRACE", "/v1/signatories/import", "POST"),
                                ("POST", "/healthz", "GET,HEAD")):
        resp = await client.request(method, path, headers=auth("admin"))
        assert resp.status == 405 and resp.headers["Allow"] == allow, (method, path)
        assert (await resp.json())["error"]["type"] == "method_not_allowed"
