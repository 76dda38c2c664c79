"""POST /v1/events and the reading endpoints, through the app on real Redis and chDB."""
import gzip
import io
import json

import pytest
from cloudevents.v1.conversion import to_structured
from cloudevents.v1.http import CloudEvent

from tests.conftest import auth, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.both_stores]
NDJSON = {"Content-Type": "application/x-ndjson", **auth("producer")}


def event(i, type_="api.call", subject="loiret", time="2026-03-10T10:00:00Z", **data):
    return {"specversion": "1.0", "id": str(i), "source": "test", "type": type_, "time": time,
            "subject": subject, "data": data}


def ndjson(events):
    return "\n".join(json.dumps(e) for e in events).encode()


async def register(client, sid="loiret", **extra):
    body = {"name": sid.title(), "kind": "departement", "joined_at": "2020-01-01", **extra}
    resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
    assert resp.status in (200, 201), await resp.text()


async def usage(client, sid="loiret", period="2026-03"):
    resp = await client.get("/v1/usage", params={"signatory": sid, "period": period}, headers=auth("reader"))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["metrics"]


async def test_sdk_events_single_and_batch_are_counted_once(client):
    await register(client)
    attrs = {"type": "api.call", "source": "gw", "subject": "loiret", "id": "sdk-1", "time": "2026-03-10T10:00:00Z"}
    headers, body = to_structured(CloudEvent(attrs, {"dataset": "d1", "count": 3}))
    resp = await client.post("/v1/events", data=body, headers={**headers, **auth("producer")})
    assert resp.status == 202 and await resp.json() == {"accepted": 1, "duplicates": 0}
    batch = [CloudEvent({**attrs, "id": f"sdk-{i}"}, {"count": 1}) for i in (1, 2)]
    body = b"[" + b",".join(to_structured(e)[1] for e in batch) + b"]"
    resp = await client.post("/v1/events", data=body, headers={
        "Content-Type": "application/cloudevents-batch+json", **auth("producer")})
    assert await resp.json() == {"accepted": 1, "duplicates": 1}
    await wait_written(client)
    m = await usage(client)
    assert m["api_calls"]["used"] == 4 and m["api_calls"]["pool_used"] == 4
    assert m["api_calls"]["reset"] == "2026-04-01T00:00:00+02:00" and m["records"]["reset"] is None
    assert m["api_calls"]["allotment"] is None and m["api_calls"]["percent"] == round(4 / 300000 * 100, 2)


async def test_ndjson_gzip(client):
    body = gzip.compress(ndjson([event(i) for i in range(100)]))
    resp = await client.post("/v1/events", data=body, headers={**NDJSON, "Content-Encoding": "gzip"})
    assert await resp.json() == {"accepted": 100, "duplicates": 0}


async def test_bad_batch_changes_nothing(client):
    await register(client)
    batch = [event(1), event(2, data_missing=True), event(3)]
    batch[1]["type"] = "api.calls"
    batch[2]["id"] = ""
    resp = await client.post("/v1/events", data=ndjson(batch), headers=NDJSON)
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["type"] == "invalid_events"
    assert [(d["index"], d["field"]) for d in err["details"]] == [(1, "type"), (2, "id")]
    # the valid event of the refused batch was not marked as seen: it counts when sent again
    resp = await client.post("/v1/events", data=ndjson([event(1)]), headers=NDJSON)
    assert await resp.json() == {"accepted": 1, "duplicates": 0}


async def test_control_characters_are_refused_by_name(client):
    await register(client)
    batch = [event(1, count=10), event(2, "dataset.records", dataset="a\x1fb", records=1, raw_bytes=1),
             event(3, object="o\nbj", bytes=1)]
    batch[2]["type"] = "content.bytes"
    batch[0]["source"] = "gw\x00"
    resp = await client.post("/v1/events", data=ndjson(batch), headers=NDJSON)
    assert resp.status == 400
    details = (await resp.json())["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == [(0, "source"), (1, "data.dataset"), (2, "data.object")]
    assert all("control characters" in d["reason"] for d in details)
    batch[0]["source"] = "gw"
    resp = await client.post("/v1/events", data=ndjson(batch[:1]), headers=NDJSON)
    assert await resp.json() == {"accepted": 1, "duplicates": 0}  # nothing of the refused batch stuck
    await wait_written(client)
    assert (await usage(client))["api_calls"]["used"] == 10


@pytest.mark.parametrize("body, headers, status, kind", [
    (b'{"specversion": ', {"Content-Type": "application/json"}, 400, "invalid_request"),
    (b"{}", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    (b"garbage", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 400, "invalid_request"),
    (b"x" * (9 * 1024 * 1024), {"Content-Type": "application/json"}, 413, "payload_too_large"),
])
async def test_bad_bodies(client, body, headers, status, kind):
    resp = await client.post("/v1/events", data=io.BytesIO(body), headers={**headers, **auth("producer")})
    assert resp.status == status
    assert (await resp.json())["error"]["type"] == kind


async def test_tokens_and_roles(client):
    body = ndjson([event(1)])
    assert (await client.post("/v1/events", data=body, headers={"Content-Type": "application/x-ndjson"})).status == 401
    bad = {"Content-Type": "application/x-ndjson", "Authorization": "Bearer nope-nope-nope"}
    assert (await client.post("/v1/events", data=body, headers=bad)).status == 401
    reader = {"Content-Type": "application/x-ndjson", **auth("reader")}
    assert (await client.post("/v1/events", data=body, headers=reader)).status == 403
    xtoken = {"Content-Type": "application/x-ndjson", "X-Meter-Token": "test-producer-token"}
    assert (await client.post("/v1/events", data=body, headers=xtoken)).status == 202


async def test_dst_day_and_month_edges_land_in_local_periods(client):
    await register(client)
    batch = [
        event(1, time="2026-03-31T21:59:59Z"),  # 23:59:59 in Paris, 31 March
        event(2, time="2026-03-31T22:00:00Z"),  # 00:00 on 1 April in Paris
        event(3, time="2026-03-29T00:30:00Z"),  # 01:30 local, before the spring-forward jump
        event(4, time="2026-03-29T01:30:00Z"),  # 03:30 local, after it: same local day
        event(5, time="2026-02-28T23:00:00Z"),  # 00:00 on 1 March in Paris
        event(6, "update.bytes", time="2026-03-29T21:59:00Z", bytes=500, kind="data"),  # 23:59 local, 29 March
    ]
    resp = await client.post("/v1/events", data=ndjson(batch), headers=NDJSON)
    assert (await resp.json())["accepted"] == 6
    await wait_written(client)
    assert (await usage(client, period="2026-03"))["api_calls"]["used"] == 4
    assert (await usage(client, period="2026-04"))["api_calls"]["used"] == 1
    assert (await usage(client, period="2026-02"))["api_calls"]["used"] == 0
    day = await usage(client, period="2026-03-29")
    assert day["api_calls"]["used"] == 2 and day["update_bytes"]["used"] == 500
    assert day["update_bytes"]["reset"] == "2026-03-30T00:00:00+02:00"


async def test_stocks_and_pool_view(client):
    await register(client)
    batch = [event(1, "dataset.records", dataset="d1", records=1000, raw_bytes=50_000),
             event(2, "dataset.records", subject="ghost", dataset="d2", records=10, raw_bytes=100),
             event(3, "content.bytes", object="logo.png", bytes=2048),
             event(4, "dataset.records", time="2026-04-02T10:00:00Z", dataset="d1", records=400, raw_bytes=20_000)]
    assert (await (await client.post("/v1/events", data=ndjson(batch), headers=NDJSON)).json())["accepted"] == 4
    await wait_written(client)
    march = await usage(client, period="2026-03")
    assert march["records"]["used"] == 1000 and march["raw_bytes"]["used"] == 50_000
    assert march["content_bytes"]["used"] == 2048 and march["dataset_records"]["used"] == 1000
    assert march["records"]["pool_used"] == 1010
    assert (await usage(client, period="2026-04"))["records"]["used"] == 400
    resp = await client.get("/v1/pool", params={"period": "2026-03"}, headers=auth("reader"))
    pool = (await resp.json())["metrics"]
    assert pool["records"] == {"cap": 20_000_000, "used": 1010, "by_signatory": {"loiret": 1000, "unattributed": 10}}
    # the unattributed bucket is always named, even when empty
    assert pool["content_bytes"]["by_signatory"] == {"loiret": 2048, "unattributed": 0}
    assert pool["api_calls"] == {"cap": 300_000, "used": 0, "by_signatory": {"unattributed": 0}}


async def test_usage_errors(client):
    resp = await client.get("/v1/usage", params={"signatory": "nobody", "period": "2026-03"}, headers=auth("reader"))
    assert resp.status == 404
    resp = await client.get("/v1/usage", params={"signatory": "unattributed", "period": "2026-3"},
                            headers=auth("reader"))
    assert resp.status == 400 and (await resp.json())["error"]["details"][0]["field"] == "period"
    for path in ("/v1/usage?signatory=unattributed&period=", "/v1/pool?period=", "/v1/allocations?period="):
        for period in ("9999-12", "0001-01-01"):  # beyond what a ClickHouse Date holds: named, not a 500
            resp = await client.get(path + period, headers=auth("reader"))
            assert resp.status == 400 and (await resp.json())["error"]["details"][0]["field"] == "period"
    for period in (5, "9999-12", ["2026-04"]):
        resp = await client.post("/v1/allocations/recompute", json={"period": period}, headers=auth("admin"))
        assert resp.status == 400 and (await resp.json())["error"]["details"][0]["field"] == "period"


class TestBacklogFull:
    @pytest.fixture
    def settings(self, tmp_path):
        from meter.config.settings import Settings
        from tests.conftest import REDIS_URL

        # the writer is off, as if ClickHouse were away: the stream fills up to its limit
        return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer=False, scheduler=False,
                        stream_max_events=1000)

    async def test_past_the_limit_ingestion_answers_503_with_retry_after_and_counts_nothing(self, client):
        assert (await client.post("/v1/events", data=ndjson([event(i) for i in range(990)]),
                                  headers=NDJSON)).status == 202
        resp = await client.post("/v1/events", data=ndjson([event(1000 + i) for i in range(20)]), headers=NDJSON)
        assert resp.status == 503 and int(resp.headers["Retry-After"]) > 0
        assert (await resp.json())["error"]["type"] == "backlog_full"
        resp = await client.post("/v1/events", data=ndjson([event(1000 + i) for i in range(10)]), headers=NDJSON)
        assert await resp.json() == {"accepted": 10, "duplicates": 0}  # the refused ones were not counted


async def test_a_collectors_event_without_subject_is_counted_as_unattributed_until_attributed(client):
    """The hand-off point: attribution by host or publisher is the ingestor's (not built yet)."""
    call = event(40, count=3, host="data.loiret.fr", traceparent="00-ab-cd-01")
    del call["subject"]
    call["traceparent"] = call["data"].pop("traceparent")  # an extension attribute: ignored
    resp = await client.post("/v1/events", data=ndjson([call]), headers=NDJSON)
    assert resp.status == 202 and (await resp.json())["accepted"] == 1
    await wait_written(client)
    assert (await usage(client, "unattributed"))["api_calls"]["used"] == 3
