"""GET /v1/authz behind the real Caddy (Debian's 2.6, ``forward_auth``) with the shipped
``deploy/caddy/Caddyfile``, the real service in a subprocess, and a fake upstream behind.

Exactly the cap gets through, each allowed answer carrying the meter's RateLimit headers to the
client; then the client gets the meter's 429 with Retry-After, and the upstream never sees it.
A client cannot choose its signatory with made-up headers; a meter that cannot be reached fails
open, marked.
"""
from __future__ import annotations

import pytest

from tests.caddy import UPSTREAM_BODY, Caddy, FakeUpstream
from tests.conftest import TOKENS
from tests.test_authz import (
    E2E_CAP,
    check_attribution_by_request_only,
    check_nothing_counted,
    meters_that_cannot_decide,
    parse_item,
    pool_used,
    start_service,
    until_denied,
)

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.chdb]
DATASETS = "/api/explore/v2.1/catalog/datasets"


@pytest.fixture
def upstream():
    with FakeUpstream() as u:
        yield u


@pytest.fixture
def gateway(tmp_path, pool_id, redis_client, upstream):
    """The service on the shared Redis (``redis_client`` deletes the pool's keys afterwards), and
    Caddy in front of it with the shipped Caddyfile."""
    svc = start_service(tmp_path, pool_id)
    try:
        with Caddy(tmp_path / "caddy", svc.port, TOKENS["gateway"], upstream.port) as caddy:
            yield svc, caddy
    finally:
        svc.stop()


def test_through_caddy_exactly_the_cap_gets_through_then_429(gateway, upstream):
    svc, caddy = gateway
    answers = until_denied(caddy, E2E_CAP + 5, DATASETS)
    assert [a[0] for a in answers] == [200] * E2E_CAP + [429], caddy.log_tail()
    allowed, (_, denied, denied_body) = answers[:-1], answers[-1]
    assert all(body == UPSTREAM_BODY for _, _, body in allowed)
    # the meter's headers reach the client on an allowed answer too, not only the upstream
    assert [int(parse_item(h["RateLimit"])[1]["r"]) for _, h, _ in allowed] == list(range(E2E_CAP - 1, -1, -1))
    assert all(parse_item(h["RateLimit-Policy"])[1]["q"] == str(E2E_CAP) for _, h, _ in allowed)
    assert {h["X-Meter-Signatory"] for _, h, _ in allowed} == {"unattributed"}
    assert [h.get("X-Meter-Degraded") for _, h, _ in answers] == [None] * len(answers)  # the meter decided
    # the deny is the meter's own answer: 429, Retry-After, RateLimit, empty body
    assert int(denied["Retry-After"]) > 0 and denied_body == b""
    assert parse_item(denied["RateLimit"])[1]["r"] == "0"
    assert parse_item(denied["RateLimit-Policy"])[1]["q"] == str(E2E_CAP)
    assert all(h.get_all("Server") is None for _, h, _ in answers)  # nor the meter's, with its version
    assert len(upstream.seen) == E2E_CAP  # the denied request never reached the upstream
    seen_headers = upstream.seen[0][2]
    assert "X-Meter-Token" not in seen_headers  # the token stays with Caddy
    assert seen_headers["X-Meter-Signatory"] == "unattributed" and "X-Meter-Degraded" not in seen_headers
    assert [caddy.get("/")[0] for _ in range(3)] == [429] * 3
    view = pool_used(svc, E2E_CAP)
    assert view["used"] == E2E_CAP and view["by_signatory"] == {"unattributed": E2E_CAP}


def test_through_caddy_a_client_cannot_choose_its_signatory(gateway, upstream):
    svc, caddy = gateway

    def signatory(path: str, headers: dict[str, str] | None = None) -> str:
        status, h, body = caddy.get(path, headers)
        assert status == 200 and body == UPSTREAM_BODY, (status, h, caddy.log_tail())
        assert "X-Meter-Degraded" not in h, h
        return h["X-Meter-Signatory"]

    check_attribution_by_request_only(svc, signatory)


def test_through_caddy_a_meter_that_cannot_decide_fails_open(gateway, tmp_path, upstream):
    """Unreachable, or refusing Caddy's token (401, or 403 for a token without the gateway role):
    the request goes on to the upstream, marked, as the nginx snippet does."""
    svc, _ = gateway
    cases = meters_that_cannot_decide(svc)
    for name, (port, token) in cases.items():
        with Caddy(tmp_path / f"caddy-{name.replace(' ', '-')}", port, token, upstream.port) as caddy:
            status, headers, body = caddy.get("/")
        assert (status, body, headers.get("X-Meter-Degraded")) == (200, UPSTREAM_BODY, "fail_open"), (name, headers)
        assert "RateLimit" not in headers and "Retry-After" not in headers
    assert len(upstream.seen) == len(cases)
    check_nothing_counted(svc)  # the meter counted none of them


def test_through_caddy_redis_down_fails_open_marked(tmp_path, pool_id, private_redis, upstream):
    """The meter itself fails api_calls open without Redis: its mark reaches the client, and no
    header the meter did not send appears (Caddy 2.6 would set it to its placeholder's text)."""
    svc = start_service(tmp_path, pool_id, METER_REDIS_URL=private_redis.url)
    try:
        with Caddy(tmp_path / "caddy", svc.port, TOKENS["gateway"], upstream.port) as caddy:
            assert caddy.get("/")[0] == 200
            private_redis.shutdown()
            status, headers, body = caddy.get("/")
    finally:
        svc.stop()
    assert (status, body, headers.get("X-Meter-Degraded")) == (200, UPSTREAM_BODY, "fail_open"), headers
    assert "RateLimit" not in headers and all("{" not in v for _, v in headers.items())
    degraded = upstream.seen[-1][2]
    assert degraded["X-Meter-Degraded"] == "fail_open" and "RateLimit" not in degraded
    assert all("{" not in v for v in degraded.values())
    assert "X-Meter-Degraded" not in upstream.seen[0][2]  # the first was decided
