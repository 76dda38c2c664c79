"""Limits (DESIGN §4 "Limits and trust"): bounded answers, the batch size before per-event work,
body timeouts, clients that hang up, and the future-skew bound on an event's time.

Through the app on real Redis and chDB (``client`` runs it on a real loopback server), and with
raw sockets where a client must misbehave at the HTTP level.
"""
from __future__ import annotations

import asyncio
import gzip
import io
import json
import socket
import time

import pytest

from meter.core.errors import PayloadTooLarge
from meter.core.problems import MAX_PROBLEMS, bounded
from meter.http import appkeys
from meter.ingest.body import decode_events
from tests.conftest import auth, pool_toml
from tests.service import Service

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
NDJSON = {"Content-Type": "application/x-ndjson", **auth("producer")}
MAX_ANSWER = 64 * 1024


def event(i, type_="api.call", time="2026-04-20T10:00:00Z", subject="loiret", **data):
    return {"specversion": "1.0", "id": str(i), "source": "test", "type": type_, "time": time,
            "subject": subject, "data": data}


async def test_an_error_answer_names_100_problems_then_how_many_more(client):
    batch = [event(i, count=0) for i in range(2000)]  # every event invalid
    resp = await client.post("/v1/events", json=batch, headers=auth("producer"))
    body = await resp.read()
    assert resp.status == 400 and len(body) <= MAX_ANSWER
    details = json.loads(body)["error"]["details"]
    assert len(details) == MAX_PROBLEMS + 1
    assert details[0] == {"index": 0, "field": "data.count", "reason": details[0]["reason"]}
    assert details[-1] == {"more": 1900}


async def test_an_error_answer_stays_small_whatever_the_texts_it_quotes(client):
    long = "k" * 50_000
    batch = [event(i, type_="no." + long, subject=long) for i in range(60)]  # 6 MB of quoted text
    resp = await client.post("/v1/events", data=io.BytesIO(json.dumps(batch).encode()),
                             headers={**auth("producer"), "Content-Type": "application/json"})
    assert resp.status == 400 and len(await resp.read()) <= MAX_ANSWER
    problems = bounded([{"field": long, "reason": long}] * 500)
    assert all(len(p["field"]) <= 160 for p in problems[:-1]) and problems[-1] == {"more": 400}


async def test_ndjson_lines_that_are_not_json_are_named_up_to_100(client):
    body = b"\n".join(b"not json %d" % i for i in range(5000))
    resp = await client.post("/v1/events", data=gzip.compress(body), headers={**NDJSON, "Content-Encoding": "gzip"})
    answer = await resp.read()
    assert resp.status == 400 and len(answer) <= MAX_ANSWER
    details = json.loads(answer)["error"]["details"]
    assert details[99]["index"] == 99 and details[99]["reason"].startswith("line 100 is not JSON")
    assert details[-1] == {"more": 4900}


def test_the_event_count_is_checked_before_any_line_is_parsed():
    lines = b"x\n" * 20_001  # none is JSON: a parse would name each
    with pytest.raises(PayloadTooLarge) as err:
        decode_events("application/x-ndjson", "", lines, 10**8, max_events=20_000)
    assert err.value.details == [{"field": "body", "reason": "20001 events or more"}]
    with pytest.raises(PayloadTooLarge):
        decode_events("application/json", "", b"[" + b"1," * 20_000 + b"1]", 10**8, max_events=20_000)


async def test_a_batch_over_max_batch_events_is_413(client):
    many = b"\n".join(json.dumps(event(i)).encode() for i in range(10_001))
    resp = await client.post("/v1/events", data=io.BytesIO(many), headers=NDJSON)
    assert resp.status == 413 and (await resp.json())["error"]["type"] == "payload_too_large"


async def test_an_event_dated_after_the_skew_bound_is_invalid_by_its_time(client):
    # the clock is 2026-04-20T12:00Z; a snapshot from 2099 would stay "the newest" for ever
    later = event(1, "dataset.records", time="2099-01-01T00:00:00Z", dataset="d", records=5, raw_bytes=1)
    resp = await client.post("/v1/events", json=[event(0), later], headers=auth("producer"))
    assert resp.status == 400
    assert (await resp.json())["error"]["details"] == [
        {"index": 1, "field": "time", "reason": "is more than 300 s after the service's clock"}]
    within = event(2, "dataset.records", time="2026-04-20T12:04:59Z", dataset="d", records=5, raw_bytes=1)
    old = event(3, time="1999-01-01T00:00:00Z")  # any past age stays accepted
    resp = await client.post("/v1/events", json=[within, old], headers=auth("producer"))
    assert resp.status == 202, await resp.text()


async def _raw(client, head: bytes, body: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head + body)
    await writer.drain()
    return reader, writer


def _head(length: int) -> bytes:
    return (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-producer-token\r\n"
            f"Content-Type: application/x-ndjson\r\nContent-Length: {length}\r\n\r\n").encode()


class TestSlowAndVanishingClients:
    @pytest.fixture
    def settings(self, settings):
        return settings.model_copy(update={"body_timeout_s": 0.5})

    async def test_a_body_not_received_in_time_gets_408_and_the_connection_closes(self, client):
        reader, writer = await _raw(client, _head(1000), b'{"specversion"')
        status = await asyncio.wait_for(reader.readline(), 10)
        assert status.startswith(b"HTTP/1.1 408")
        rest = await asyncio.wait_for(reader.read(), 10)  # then EOF: the server closed it
        assert b'"request_timeout"' in rest
        writer.close()
        assert client.app[appkeys.TELEMETRY].body_timeouts._value.get() == 1



def test_a_client_that_hangs_up_mid_body_is_logged_at_info_and_counted_apart(tmp_path, pool_id, redis_client):
    """The real service (aiohttp's test server cancels the handler instead, as production does not)."""
    pool_file = tmp_path / "pool.toml"
    pool_file.write_text(pool_toml(pool_id))
    svc = Service(pool_file, tmp_path / "data", METER_SCHEDULER="false").start()
    try:
        with socket.create_connection(("127.0.0.1", svc.port)) as sock:
            sock.sendall(_head(1000) + b'{"specversion"')
            time.sleep(0.2)
        metrics = b""
        for _ in range(50):
            metrics = svc.request("GET", "/metrics")[2]
            if b"meter_http_aborted_total 1.0" in metrics:
                break
            time.sleep(0.05)
        assert b"meter_http_aborted_total 1.0" in metrics
        assert b'kind="internal"' not in metrics
    finally:
        svc.stop()
    lines = [json.loads(line) for line in svc.log.read_text().splitlines() if line.startswith("{")]
    hung = [line for line in lines if line.get("msg") == "client hung up"]
    assert len(hung) == 1 and hung[0]["level"] == "info", hung
    assert not [line for line in lines if line.get("level") in ("error", "critical")]


# --- bounded Redis and exact totals ---

def records(i, dataset, n=1, time="2026-04-20T10:00:00Z", type_="dataset.records"):
    data = {"dataset": dataset, "records": n, "raw_bytes": n} if type_ == "dataset.records" else {"dataset": dataset}
    return {"specversion": "1.0", "id": f"r{i}", "source": "test", "type": type_, "time": time,
            "subject": "loiret", "data": data}


class TestBoundedRedis:
    @pytest.fixture
    def settings(self, settings):
        return settings.model_copy(update={"max_datasets": 3, "max_objects": 2, "dedup_window_s": 3600})

    async def test_one_dataset_more_than_the_pool_keeps_is_409_and_counted(self, client):
        resp = await client.post("/v1/events", json=[records(i, f"d{i}") for i in range(3)], headers=auth("producer"))
        assert resp.status == 202
        resp = await client.post("/v1/events", json=[records(9, "d0", 5), records(10, "d3")], headers=auth("producer"))
        assert resp.status == 409
        error = (await resp.json())["error"]
        assert error["type"] == "too_many_datasets" and error["details"][0]["index"] == 1
        telemetry = client.app[appkeys.TELEMETRY]
        assert telemetry.stock_refused.labels("dataset")._value.get() == 1
        ledger = client.app[appkeys.LEDGER]
        assert await ledger.client.hget(ledger.keys.dataset("d0"), "a") == b"1"  # nothing of the batch
        # a deleted dataset frees its place, and its entry is forgotten after the dedup window
        later = "2026-04-20T11:00:00Z"
        resp = await client.post("/v1/events", json=[records(11, "d0", time=later, type_="dataset.deleted"),
                                                     records(12, "d3", time=later)], headers=auth("producer"))
        assert resp.status == 202, await resp.text()
        assert 0 < await ledger.client.ttl(ledger.keys.dataset("d0")) <= 3600
        assert await ledger.client.ttl(ledger.keys.dataset("d3")) == -1
        assert await ledger.client.scard(ledger.keys.datasets_index) == 3

    async def test_one_object_more_than_the_pool_keeps_is_409(self, client):
        objects = [{"specversion": "1.0", "id": f"o{i}", "source": "test", "type": "content.bytes",
                    "subject": "loiret", "data": {"object": f"img{i}.png", "bytes": 10}} for i in range(3)]
        resp = await client.post("/v1/events", json=objects, headers=auth("producer"))
        assert resp.status == 409 and (await resp.json())["error"]["type"] == "too_many_objects"

    async def test_a_name_longer_than_256_characters_is_invalid(self, client):
        resp = await client.post("/v1/events", json=[records(1, "d" * 257)], headers=auth("producer"))
        assert resp.status == 400 and (await resp.json())["error"]["details"][0]["field"] == "data.dataset"


MAX = 2**53 - 1


async def test_a_batch_taking_a_past_periods_total_past_2_53_is_409_and_accepts_nothing(client):
    def call(i, count, time="2025-01-10T10:00:00Z"):
        return {"specversion": "1.0", "id": f"c{i}", "source": "test", "type": "api.call", "time": time,
                "subject": "loiret", "data": {"count": count}}

    resp = await client.post("/v1/events", json=[call(1, MAX - 10)], headers=auth("producer"))
    assert resp.status == 202
    resp = await client.post("/v1/events", json=[call(2, 5), call(3, 6)], headers=auth("producer"))
    assert resp.status == 409 and (await resp.json())["error"]["type"] == "total_overflow"
    resp = await client.post("/v1/events", json=[call(4, 10)], headers=auth("producer"))
    assert resp.status == 202  # exactly 2^53 - 1: still exact
    resp = await client.post("/v1/events", json=[call(5, MAX - 1, "2026-04-20T10:00:00Z"), call(6, 2)],
                             headers=auth("producer"))
    assert resp.status == 409  # the current period too, and the whole batch


async def test_a_past_periods_guard_starts_from_its_total_in_history(client):
    from tests.conftest import wait_written

    def call(i, count):
        return {"specversion": "1.0", "id": f"h{i}", "source": "test", "type": "api.call",
                "time": "2025-02-10T10:00:00Z", "subject": "loiret", "data": {"count": count}}

    assert (await client.post("/v1/events", json=[call(1, MAX - 3)], headers=auth("producer"))).status == 202
    await wait_written(client)
    ledger = client.app[appkeys.LEDGER]
    await ledger.client.delete(ledger.keys.flow("api_calls", "2025-02"))  # the guard expired
    resp = await client.post("/v1/events", json=[call(2, 4)], headers=auth("producer"))
    assert resp.status == 409 and (await resp.json())["error"]["type"] == "total_overflow"


@pytest.mark.parametrize("path", ["/v1/reports/2026-11%0A/pool", "/v1/reports/2026-11%0A",
                                  "/v1/usage?signatory=loiret&period=2026-03%0A",
                                  "/v1/pool?period=2026-03-01%0A", "/v1/allocations?period=2026-03%0A"])
async def test_a_path_or_query_value_is_matched_whole(client, path):
    resp = await client.get(path, headers=auth("admin"))
    assert resp.status in (400, 404), (path, resp.status)


def test_a_period_with_a_trailing_newline_is_no_period():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from meter.core.errors import InvalidRequest
    from meter.core.periods import parse_period

    now = datetime(2026, 4, 20, tzinfo=UTC)
    assert parse_period("2026-11", ZoneInfo("Europe/Paris"), now).label == "2026-11"
    for text in ("2026-11\n", "2026-11-02\n"):
        with pytest.raises(InvalidRequest):
            parse_period(text, ZoneInfo("Europe/Paris"), now)


def test_the_spec_documents_the_408_409_and_413_answers():
    from meter.http.routes import openapi_document as spec

    paths = spec()["paths"]
    events = paths["/v1/events"]["post"]["responses"]
    assert {"408", "409", "413"} <= set(events)
    assert "total_overflow" in events["409"]["description"] and "not_owner" in events["409"]["description"]
    assert "409" in paths["/v1/reservations/{id}/commit"]["post"]["responses"]
    for path, method in (("/v1/check", "post"), ("/v1/reservations", "post"), ("/v1/signatories/{id}", "put")):
        assert {"408", "413"} <= set(paths[path][method]["responses"]), path
    details = spec()["components"]["schemas"]["ErrorInfo"]["properties"]["details"]
    assert "MoreProblems" in str(details) and "101" in str(details)
