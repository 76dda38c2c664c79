"""Redis away while the service runs: every endpoint that needs it answers 503 with Retry-After
(the contract's "no 5xx but 503"), never a 500, and answers again once Redis is back.

Found by ``make soak``: ``GET /v1/alerts`` answered 500 while its Redis was being restarted.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import TOKENS, pool_toml
from tests.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
READER = {"Authorization": f"Bearer {TOKENS['reader']}"}
READS = ["/v1/alerts", "/v1/usage?signatory=x", "/v1/pool", "/v1/signatories", "/v1/signatories/x",
         "/v1/reports/2026-11", "/v1/allocations", "/v1/alerts?period=2026-11"]


def test_reads_are_503_while_redis_is_away_then_200(tmp_path, private_redis, pool_id):
    pool = tmp_path / "pool.toml"
    pool.write_text(pool_toml(pool_id))
    svc = Service(pool, tmp_path / "data", METER_REDIS_URL=private_redis.url).start()
    try:
        before = {path: svc.request("GET", path, headers=READER)[0] for path in READS}
        private_redis.kill9()
        away = {}
        for path in READS:
            status, headers, body = svc.request("GET", path, headers=READER)
            away[path] = status
            if status == 503:
                assert int(headers["Retry-After"]) > 0 and json.loads(body)["error"]["type"].endswith("unavailable")
        assert all(status in (200, 503) for status in away.values()), away  # 200: answered without Redis
        assert away["/v1/alerts"] == away["/v1/alerts?period=2026-11"] == away["/v1/signatories"] == 503
        private_redis.start()
        assert {path: svc.request("GET", path, headers=READER)[0] for path in READS} == before
    finally:
        svc.stop()
    assert '"level":"error"' not in svc.log.read_text()
