"""GET /v1/authz, the gateway hook: on the app (real Redis and chDB), then behind the real nginx
with the shipped snippets, with the real service in a subprocess and a stand-in portal behind.

App level: every status with an empty body, the signatory found from the host or the dataset in
each OpenDataSoft path shape, the RateLimit headers, and trusted gateways by address.
End to end: exactly the cap gets through nginx, then the client gets 429 with Retry-After; a
client cannot name another signatory's host; nginx keeps its connections to the meter; Redis
stopped mid-test fails api_calls open and writes closed; Redis flushed and the service restarted,
a full pool still denies.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from meter.http import appkeys
from tests.conftest import TOKENS, auth, make_config, pool_toml, wait_written
from tests.nginx import FakePortal, Nginx, check_example_site
from tests.service import Service, free_port

CAP = 5
NOW_RESET_S = 900_000  # 2026-04-20T12:00Z (the clock fixture) to 2026-05-01T00:00+02:00
APRIL_S = 30 * 86_400
LOIRET = {"name": "Département du Loiret", "kind": "departement", "hosts": ["loiret.data.example"]}
OWNER = {"name": "Orléans Métropole", "kind": "epci"}
ODS_PATHS = [
    "/api/explore/v2.1/catalog/datasets/{id}/records?limit=10",
    "/api/records/1.0/search/?dataset={id}&rows=10",
    "/explore/dataset/{id}/table/",
]


def parse_item(value: str) -> tuple[str, dict[str, str]]:
    """One structured-field item such as ``"pool-api_calls";r=4;t=10``: its name and parameters."""
    name, *params = value.split(";")
    assert re.fullmatch(r'"[a-z0-9_-]+"', name), value
    return name.strip('"'), dict(p.split("=", 1) for p in params)


# ---------------------------------------------------------------------------------------------
# a. the endpoint on the app (real Redis and chDB, fixed clock)
# ---------------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.chdb
class TestEndpoint:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, f"[caps]\napi_calls = {CAP}\n")

    async def authz(self, client, status, uri="/", host="nobody.example", query="", headers=None):
        hdrs = {"X-Meter-Token": TOKENS["gateway"], "X-Original-Host": host, "X-Original-URI": uri}
        hdrs.update(headers or {})
        resp = await client.get("/v1/authz" + query, headers={k: v for k, v in hdrs.items() if v is not None})
        assert resp.status == status, resp.headers
        assert await resp.read() == b""  # every answer, errors included: nginx keeps its keep-alive
        return resp.headers

    async def test_allowed_then_denied_with_429_or_the_asked_403(self, client):
        remaining = []
        for _ in range(CAP):
            h = await self.authz(client, 200)
            name, params = parse_item(h["RateLimit"])
            assert name == "pool-api_calls" and int(params["t"]) == NOW_RESET_S
            remaining.append(int(params["r"]))
            assert "Retry-After" not in h
        assert remaining == [4, 3, 2, 1, 0]
        denied = await self.authz(client, 429)
        assert int(denied["Retry-After"]) == NOW_RESET_S > 0
        assert parse_item(denied["RateLimit"])[1]["r"] == "0"
        assert denied["X-Meter-Signatory"] == "unattributed"
        nginx_style = await self.authz(client, 403, query="?deny_status=403")
        assert int(nginx_style["Retry-After"]) > 0 and "RateLimit-Policy" in nginx_style
        assert (await self.authz(client, 429, query="?deny_status=429"))["Retry-After"]
        usage = await client.post("/v1/check", json={"signatory": "x", "metric": "api_calls", "amount": 0},
                                  headers=auth("gateway"))
        assert (await usage.json())["used"] == CAP  # denials consume nothing

    async def test_policy_header_names_quota_window_and_partition(self, client):
        h = await self.authz(client, 200)
        name, params = parse_item(h["RateLimit-Policy"])
        assert name == "pool-api_calls"
        assert params["q"] == str(CAP) and params["w"] == str(APRIL_S)
        assert re.fullmatch(r":[A-Za-z0-9+/=]+:", params["pk"])
        assert base64.b64decode(params["pk"].strip(":")) == b"pool:unattributed"

    async def test_bad_deny_status_token_and_role(self, client):
        await self.authz(client, 400, query="?deny_status=500")
        await self.authz(client, 401, headers={"X-Meter-Token": None})
        await self.authz(client, 401, headers={"X-Meter-Token": "not-a-token"})
        await self.authz(client, 403, headers={"X-Meter-Token": TOKENS["reader"]})
        await self.authz(client, 403, headers={"X-Meter-Token": TOKENS["producer"]})
        bearer = {"X-Meter-Token": None, "Authorization": f"Bearer {TOKENS['gateway']}"}
        await self.authz(client, 200, headers=bearer)
        await self.authz(client, 200, headers={"X-Meter-Token": TOKENS["admin"]})
        check = await client.post("/v1/check", json={"signatory": "x", "metric": "api_calls", "amount": 0},
                                  headers=auth("gateway"))
        assert (await check.json())["used"] == 2  # only the two authorized calls were counted

    async def test_signatory_from_host(self, client):
        resp = await client.put("/v1/signatories/loiret", json=LOIRET, headers=auth("admin"))
        assert resp.status in (200, 201), await resp.text()
        assert (await self.authz(client, 200, host="loiret.data.example"))["X-Meter-Signatory"] == "loiret"
        # case and port do not matter; X-Forwarded-Host and Host are read when nothing comes before
        assert (await self.authz(client, 200, host="Loiret.Data.Example:8443"))["X-Meter-Signatory"] == "loiret"
        fwd = {"X-Original-Host": None, "X-Forwarded-Host": "loiret.data.example"}
        assert (await self.authz(client, 200, headers=fwd))["X-Meter-Signatory"] == "loiret"
        plain = {"X-Original-Host": None, "Host": "loiret.data.example"}
        assert (await self.authz(client, 200, headers=plain))["X-Meter-Signatory"] == "loiret"
        first = {"X-Forwarded-Host": "loiret.data.example"}  # X-Original-Host (nobody.example) wins
        assert (await self.authz(client, 200, headers=first))["X-Meter-Signatory"] == "unattributed"
        pool = await client.post("/v1/check", json={"signatory": "loiret", "metric": "api_calls", "amount": 0},
                                 headers=auth("gateway"))
        assert (await pool.json())["used"] == 5

    @pytest.mark.parametrize("shape", ODS_PATHS)
    async def test_signatory_from_the_dataset_in_the_path(self, client, shape):
        resp = await client.put("/v1/signatories/orleans-metropole", json=OWNER, headers=auth("admin"))
        assert resp.status in (200, 201), await resp.text()
        snapshot = {"specversion": "1.0", "id": "snap-1", "source": "backoffice", "type": "dataset.records",
                    "time": "2026-04-20T10:00:00Z", "subject": "orleans-metropole",
                    "data": {"dataset": "velos-orleans", "records": 120, "raw_bytes": 4096}}
        resp = await client.post("/v1/events", json=snapshot, headers=auth("producer"))
        assert resp.status == 202
        owned = await self.authz(client, 200, uri=shape.format(id="velos-orleans"))
        assert owned["X-Meter-Signatory"] == "orleans-metropole"
        assert base64.b64decode(parse_item(owned["RateLimit-Policy"])[1]["pk"].strip(":")) == b"pool:orleans-metropole"
        stranger = await self.authz(client, 200, uri=shape.format(id="never-seen"))
        assert stranger["X-Meter-Signatory"] == "unattributed"
        via_forwarded = {"X-Original-URI": None, "X-Forwarded-Uri": shape.format(id="velos-orleans")}
        assert (await self.authz(client, 200, headers=via_forwarded))["X-Meter-Signatory"] == "orleans-metropole"

    async def test_envoy_style_path_under_the_prefix(self, client):
        """Envoy's HTTP ext_authz sends the client's method, and its path under /v1/authz."""
        resp = await client.put("/v1/signatories/orleans-metropole", json=OWNER, headers=auth("admin"))
        assert resp.status in (200, 201)
        snapshot = {"specversion": "1.0", "id": "snap-e", "source": "backoffice", "type": "dataset.records",
                    "time": "2026-04-20T10:00:00Z", "subject": "orleans-metropole",
                    "data": {"dataset": "velos-orleans", "records": 1, "raw_bytes": 1}}
        assert (await client.post("/v1/events", json=snapshot, headers=auth("producer"))).status == 202
        headers = {"X-Meter-Token": TOKENS["gateway"], "Host": "portal.example"}
        path = "/v1/authz/api/explore/v2.1/catalog/datasets/velos-orleans/records?deny_status=500"
        resp = await client.post(path, headers=headers)
        assert resp.status == 200 and await resp.read() == b""
        assert resp.headers["X-Meter-Signatory"] == "orleans-metropole"
        for _ in range(CAP - 1):
            await client.get("/v1/authz/explore/", headers=headers)
        denied = await client.get("/v1/authz/explore/", headers=headers)
        assert denied.status == 429  # the client's query is not ours: no deny_status read from it

    async def test_envoy_style_takes_the_methods_of_the_contract_and_any_path(self, client):
        headers = {"X-Meter-Token": TOKENS["gateway"], "Host": "portal.example"}
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            resp = await client.request(method, "/v1/authz/explore/%0Aodd", headers=headers)
            # a decision (allowed, or denied once the test's small cap is used), not a 404 or 405
            assert resp.status in (200, 429) and await resp.read() == b"", method
        other = await client.request("TRACE", "/v1/authz/explore/", headers=headers)
        assert other.status == 405 and other.headers["Allow"] == "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"

    @pytest.mark.parametrize("shape", ODS_PATHS + ["/v1/authz/explore/dataset/{id}/"])
    async def test_a_client_cannot_smuggle_fields_into_the_decision(self, client, shape):
        """The path is the client's: a dataset id that decodes to control characters (the ledger
        script's field separator) names no dataset, and is decided as the pool's, by the rules."""
        flow = client.app[appkeys.LEDGER].keys.flow("api_calls", "2026-04")
        forged = "ds1%1F1000%1F1%1F0%1F" + quote(flow, safe="") + "%1F100000%1F999999999%1F%1F%1F%1F%1F0"
        for _ in range(2):  # concurrent with honest checks: none of them is harmed
            asks = [client.post("/v1/check", json={"signatory": "x", "metric": "api_calls"}, headers=auth("gateway"))]
            if shape.startswith("/v1/authz/"):
                asks.append(client.get(shape.format(id=forged), headers={"X-Meter-Token": TOKENS["gateway"]}))
            else:
                asks.append(client.get("/v1/authz", headers={"X-Meter-Token": TOKENS["gateway"],
                                                             "X-Original-URI": shape.format(id=forged)}))
            honest, forged_resp = await asyncio.gather(*asks)
            assert honest.status == 200 and (await honest.json())["allowed"]
            assert forged_resp.status == 200, forged_resp.headers
            assert forged_resp.headers["X-Meter-Signatory"] == "unattributed"
            assert parse_item(forged_resp.headers["RateLimit-Policy"])[1]["q"] == str(CAP)
        look = await client.post("/v1/check", json={"signatory": "x", "metric": "api_calls", "amount": 0},
                                 headers=auth("gateway"))
        assert (await look.json())["used"] == 4  # 2 honest and 2 forged calls, one each, no more

    async def test_unknown_host_and_path_count_against_the_pool_as_unattributed(self, client):
        h = await self.authz(client, 200, host="unknown.example", uri="/api/explore/v2.1/catalog/datasets")
        assert h["X-Meter-Signatory"] == "unattributed"
        await wait_written(client)
        resp = await client.get("/v1/pool?period=2026-04", headers=auth("reader"))
        view = (await resp.json())["metrics"]["api_calls"]
        assert view["used"] == 1 and view["by_signatory"] == {"unattributed": 1}


@pytest.mark.redis
@pytest.mark.chdb
class TestTrustedGateways:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, '[enforcement]\ntrusted_gateways = ["127.0.0.1/32"]\n')

    async def test_a_trusted_address_needs_no_token_but_a_bad_token_is_still_refused(self, client):
        resp = await client.get("/v1/authz", headers={"X-Original-Host": "a.example"})
        assert resp.status == 200 and await resp.read() == b""
        assert resp.headers["X-Meter-Signatory"] == "unattributed"
        resp = await client.get("/v1/authz", headers={"X-Meter-Token": "not-a-token"})
        assert resp.status == 401 and await resp.read() == b""
        # the trust covers authz only: other endpoints still need a token
        resp = await client.post("/v1/check", json={"signatory": "x", "metric": "api_calls"})
        assert resp.status == 401


@pytest.mark.redis
@pytest.mark.chdb
class TestUntrustedAddress:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, '[enforcement]\ntrusted_gateways = ["10.0.0.0/8", "::1/128"]\n')

    async def test_an_address_outside_the_networks_needs_a_token(self, client):
        resp = await client.get("/v1/authz", headers={"X-Original-Host": "a.example"})
        assert resp.status == 401 and await resp.read() == b""


# ---------------------------------------------------------------------------------------------
# b. end to end: the real service, the real nginx with the shipped snippets, a portal behind
# ---------------------------------------------------------------------------------------------

E2E_CAP = 20
READER = {"Authorization": f"Bearer {TOKENS['reader']}"}
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}", "Content-Type": "application/json"}
GATEWAY = {"Authorization": f"Bearer {TOKENS['gateway']}", "Content-Type": "application/json"}
PRODUCER = {"Authorization": f"Bearer {TOKENS['producer']}", "Content-Type": "application/json"}
TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT"}


def start_service(tmp_path: Path, pool_id: str, **env: str) -> Service:
    """The service, with a Redis timeout generous enough that a loaded test machine never makes
    a decision fail open (with the 50 ms default, a starved event loop sometimes does)."""
    pool_file = tmp_path / "pool.toml"
    pool_file.write_text(pool_toml(pool_id, f"[caps]\napi_calls = {E2E_CAP}\n"
                                            "[enforcement]\nredis_timeout_ms = 2000\n"))
    return Service(pool_file, tmp_path / "data", **env).start()


@pytest.fixture
def portal():
    with FakePortal() as p:
        yield p


@pytest.fixture
def gateway(tmp_path, pool_id, redis_client, portal):
    """The service on the shared Redis (``redis_client`` deletes the pool's keys afterwards), and
    nginx in front of it with the shipped snippets."""
    svc = start_service(tmp_path, pool_id)
    try:
        with Nginx(tmp_path / "nginx", svc.port, TOKENS["gateway"], portal.port) as nginx:
            yield svc, nginx
    finally:
        svc.stop()


def pool_used(svc: Service, expected: int, timeout: float = 30.0) -> dict:
    """The pool's api_calls view once the writer has brought it to ``expected`` (or the timeout)."""
    deadline = time.monotonic() + timeout
    view: dict = {}
    while time.monotonic() < deadline:
        status, body = svc.json("GET", "/v1/pool", headers=READER)
        assert status == 200, body
        view = body["metrics"]["api_calls"]
        if view["used"] >= expected:
            break
        time.sleep(0.1)
    return view


def until_denied(gateway: Any, limit: int, path: str = "/api/explore/v2.1/catalog/datasets") -> list:
    """Requests through a gateway (nginx, Caddy) until the first 429 (at most ``limit``):
    [(status, headers, body)]."""
    answers = []
    for _ in range(limit):
        answers.append(gateway.get(path))
        if answers[-1][0] != 200:
            break
    return answers


# headers a client makes up to be counted as Loiret, or with another's dataset
SPOOFED = {"X-Original-Host": "loiret.data.example", "X-Forwarded-Host": "loiret.data.example",
           "X-Original-URI": "/explore/dataset/velos-orleans/", "X-Forwarded-Uri": "/explore/dataset/velos-orleans/",
           "X-Meter-Token": "forged", "Authorization": f"Bearer {TOKENS['reader']}"}


def check_attribution_by_request_only(svc: Service, signatory: Callable[..., str]) -> None:
    """Through a gateway, ``signatory(path, headers)`` names whom the meter counted: the real host
    and path decide it, headers the client makes up do not."""
    for sid, record in (("loiret", LOIRET), ("orleans-metropole", OWNER)):
        status, body = svc.json("PUT", f"/v1/signatories/{sid}", body=json.dumps(record).encode(), headers=ADMIN)
        assert status in (200, 201), body
    snapshot = {"specversion": "1.0", "id": "snap-e2e", "source": "backoffice", "type": "dataset.records",
                "time": "2026-01-01T00:00:00Z", "subject": "orleans-metropole",
                "data": {"dataset": "velos-orleans", "records": 10, "raw_bytes": 100}}
    assert svc.json("POST", "/v1/events", body=json.dumps(snapshot).encode(), headers=PRODUCER)[0] == 202
    assert signatory("/", {"Host": "loiret.data.example"}) == "loiret"
    assert signatory("/explore/dataset/velos-orleans/") == "orleans-metropole"
    assert signatory("/", SPOOFED) == "unattributed"
    assert signatory("/", {**SPOOFED, "Host": "loiret.data.example"}) == "loiret"
    view = pool_used(svc, 4)
    assert view["by_signatory"] == {"loiret": 2, "orleans-metropole": 1, "unattributed": 1}


def meters_that_cannot_decide(svc: Service) -> dict[str, tuple[int, str]]:
    """{case: (the meter's port, the gateway's token)}: unreachable, or refusing the token (401,
    or 403 for a token without the gateway role)."""
    return {"unreachable": (free_port(), TOKENS["gateway"]), "unknown token": (svc.port, "not-a-token"),
            "reader token": (svc.port, TOKENS["reader"])}


def check_nothing_counted(svc: Service) -> None:
    status, counter = svc.json("POST", "/v1/check", headers=GATEWAY, body=json.dumps(
        {"signatory": "x", "metric": "api_calls", "amount": 0}).encode())
    assert status == 200 and counter["used"] == 0


def tcp_sockets(port: int) -> dict[str, int]:
    """Loopback TCP sockets with ``port`` at one end, by state (from /proc/net/tcp: no ss needed)."""
    counts = {"ESTABLISHED": 0, "TIME_WAIT": 0}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        ends = {int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)}
        state = TCP_STATES.get(fields[3])
        if port in ends and state:
            counts[state] += 1
    return counts


@pytest.mark.e2e
@pytest.mark.redis
@pytest.mark.chdb
def test_through_nginx_exactly_the_cap_gets_through_then_429(gateway, portal):
    svc, nginx = gateway
    before = tcp_sockets(svc.port)
    answers = until_denied(nginx, E2E_CAP + 5)
    statuses = [a[0] for a in answers]
    assert statuses == [200] * E2E_CAP + [429], [(a[0], a[1].get("X-Meter-Degraded")) for a in answers]
    assert [h.get("X-Meter-Degraded") for _, h, _ in answers] == [None] * len(answers)  # the meter decided
    assert all(body == b"portal" for _, _, body in answers[:-1])
    assert [int(parse_item(h["RateLimit"])[1]["r"]) for _, h, _ in answers[:-1]] == list(range(E2E_CAP - 1, -1, -1))
    _, denied, body = answers[-1]
    assert int(denied["Retry-After"]) > 0
    assert parse_item(denied["RateLimit"])[1]["r"] == "0"
    assert parse_item(denied["RateLimit-Policy"])[1]["q"] == str(E2E_CAP)
    assert json.loads(body)["error"]["type"] == "quota_exceeded"
    assert len(portal.seen) == E2E_CAP  # the denied request never reached the portal
    # and it stays denied, without counting the denials
    assert [nginx.get("/")[0] for _ in range(3)] == [429] * 3
    # nginx kept its connections to the meter: 24 requests, not one connection each left in
    # TIME_WAIT (measured before this test's own requests to the meter, which close theirs)
    after = tcp_sockets(svc.port)
    assert after["TIME_WAIT"] - before["TIME_WAIT"] <= 2, (before, after)
    assert after["ESTABLISHED"] >= 2  # both ends of nginx's kept connection
    view = pool_used(svc, E2E_CAP)
    assert view["used"] == E2E_CAP and view["by_signatory"] == {"unattributed": E2E_CAP}


@pytest.mark.e2e
@pytest.mark.redis
@pytest.mark.chdb
def test_through_nginx_a_client_cannot_choose_its_signatory(gateway, portal):
    svc, nginx = gateway

    def signatory(path: str, headers: dict[str, str] | None = None) -> str:
        status, h, body = nginx.get(path, headers)
        assert status == 200 and body == b"portal", (status, h, nginx.log_tail())
        assert "X-Meter-Degraded" not in h, h  # the meter decided: nothing failed open
        return h["X-Meter-Signatory"]

    # the snippet overwrites the client's own headers, and drops its tokens
    check_attribution_by_request_only(svc, signatory)


@pytest.mark.e2e
@pytest.mark.redis
@pytest.mark.chdb
def test_through_nginx_a_meter_that_cannot_decide_fails_open(gateway, tmp_path, portal):
    """Unreachable, or refusing nginx's token (401, or 403 for a token without the gateway role):
    the snippet lets the request through, marked, instead of failing the portal (500) or telling
    the client its quota is exhausted (429)."""
    svc, _ = gateway
    cases = meters_that_cannot_decide(svc)
    for name, (port, token) in cases.items():
        with Nginx(tmp_path / f"nginx-{name.replace(' ', '-')}", port, token, portal.port) as nginx:
            status, headers, body = nginx.get("/")
        assert (status, body, headers.get("X-Meter-Degraded")) == (200, b"portal", "fail_open"), (name, headers)
        assert "RateLimit" not in headers and "Retry-After" not in headers
    assert len(portal.seen) == len(cases)
    check_nothing_counted(svc)  # the meter counted none of them


def test_shipped_example_site_passes_nginx_t(tmp_path):
    check_example_site(tmp_path)


# ---------------------------------------------------------------------------------------------
# c. Redis stopped mid-test, then back empty: fail modes, and a full pool that stays full
# ---------------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.redis
@pytest.mark.chdb
def test_redis_down_fails_reads_open_and_writes_closed_and_a_full_pool_survives_its_loss(
        tmp_path, pool_id, private_redis, portal):
    svc = start_service(tmp_path, pool_id, METER_REDIS_URL=private_redis.url)
    try:
        with Nginx(tmp_path / "nginx", svc.port, TOKENS["gateway"], portal.port) as nginx:
            statuses = [a[0] for a in until_denied(nginx, E2E_CAP + 5)]
            assert statuses == [200] * E2E_CAP + [429]
            assert pool_used(svc, E2E_CAP)["used"] == E2E_CAP  # ClickHouse has it all

            private_redis.shutdown()
            for _ in range(5):  # api_calls fail open: the client gets the portal, marked degraded
                status, headers, body = nginx.get("/")
                assert (status, body) == (200, b"portal"), (status, headers, nginx.log_tail())
                assert headers.get("X-Meter-Degraded") == "fail_open"
            status, headers, _ = svc.request("GET", "/v1/authz", headers={"X-Meter-Token": TOKENS["gateway"]})
            assert status == 200 and headers["X-Meter-Degraded"] == "fail_open"
            status, headers, body = svc.request("POST", "/v1/check", headers=GATEWAY, body=json.dumps(
                {"signatory": "x", "metric": "update_bytes", "amount": 1}).encode())
            decision = json.loads(body)
            assert status == 200 and decision["allowed"] is False, decision  # writes fail closed
            assert headers["X-Meter-Degraded"] == "fail_closed"
            assert svc.proc.poll() is None and svc.request("GET", "/healthz")[0] == 200
            assert svc.request("GET", "/readyz")[0] == 503

            rebuilds = svc.log.read_text().count("ledger rebuilt")
            private_redis.start()  # the same port, empty: the ledger is lost
            # the running service reconnects, finds the ledger gone, and rebuilds it before deciding
            # (its watch job may get there before this request does: either way, it is rebuilt)
            status, headers, _ = nginx.get("/")
            assert status == 429 and "X-Meter-Degraded" not in headers, (status, headers)
            assert svc.log.read_text().count("ledger rebuilt") == rebuilds + 1

            # Redis flushed while the service is down, then the service restarted: still full
            assert svc.stop() == 0
            assert private_redis.cli("FLUSHALL") is True and private_redis.cli("DBSIZE") == 0
            rebuilds = svc.log.read_text().count("ledger rebuilt")
            svc.start()
            assert svc.log.read_text().count("ledger rebuilt") == rebuilds + 1  # at start-up
            status, headers, _ = nginx.get("/")
            assert status == 429 and int(headers["Retry-After"]) > 0, (status, headers)
            assert parse_item(headers["RateLimit"])[1]["r"] == "0"
            assert len(portal.seen) == E2E_CAP + 5  # the 5 that failed open, and no more
            assert svc.stop() == 0
    finally:
        svc.stop()
