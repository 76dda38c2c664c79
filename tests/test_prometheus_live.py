"""Every PromQL expression (the Operations dashboard's and the alerting rules') evaluated by a real
Prometheus (Debian's package) scraping a real meter that serves real traffic, then loses its Redis."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dashboards import operations
from tests.conftest import auth, new_pool_id, pool_toml
from tests.service import Service, free_port

pytestmark = [pytest.mark.e2e]
RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "rules"
RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval is for a 1 s scrape over this short a test
# Metrics that this test's traffic does not feed, whose expressions may return nothing here.
NOT_YET_EXPORTED: set[str] = set()
# Alerts whose trouble this test causes (decisions and ingestion while Redis is down).
FED_ALERTS = {"MeterDecisionsDegraded", "MeterRedisErrors"}


class Prometheus:
    def __init__(self, workdir: Path, target: str) -> None:
        self.binary = shutil.which("prometheus") or pytest.fail("no prometheus: apt-get install prometheus")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "prometheus.yml"
        self.config.write_text(json.dumps({  # JSON is YAML: no YAML library needed
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES / "*.rules.yml")],
            "scrape_configs": [{"job_name": "meter", "static_configs": [{"targets": [target]}]}]}))
        self.storage = workdir / "data"
        self.log = workdir / "prometheus.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Prometheus:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.storage}",
                 f"--web.listen-address=127.0.0.1:{self.port}"], stdout=log, stderr=subprocess.STDOUT)
        self.wait(lambda: self.api("/api/v1/status/buildinfo")["status"] == "success", "start")
        return self

    def api(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(self.url + path + query, timeout=10) as resp:
            return json.loads(resp.read())

    def query(self, expr: str) -> dict:
        try:
            return self.api("/api/v1/query", query=expr)
        except urllib.error.HTTPError as err:  # a bad expression is a 400 with the reason
            return json.loads(err.read())

    def wait(self, ready, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"prometheus: {what} not reached in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def traffic(meter: Service, round_: int) -> None:
    """Events (new, repeated, invalid) and decisions (allowed, denied)."""
    events = [{"specversion": "1.0", "id": f"p{round_}-{i}", "source": "prom", "type": "api.call",
               "time": "2026-04-20T10:00:00Z", "subject": "loiret", "data": {"count": 1}} for i in range(5)]
    body = "\n".join(json.dumps(e) for e in events + events[:1]).encode()
    meter.request("POST", "/v1/events", body, {"Content-Type": "application/x-ndjson", **auth("producer")})
    meter.request("POST", "/v1/events", b'{"specversion": "1.0"}',
                  {"Content-Type": "application/json", **auth("producer")})
    checks = json.dumps([{"signatory": "loiret", "metric": "api_calls", "amount": 1},
                         {"signatory": "loiret", "metric": "api_calls", "amount": 10_000_000}]).encode()
    meter.request("POST", "/v1/check", checks, {"Content-Type": "application/json", **auth("gateway")})


@pytest.fixture
def stack(tmp_path, private_redis):
    pool_file = tmp_path / "pool.toml"
    pool_file.write_text(pool_toml(new_pool_id(), "[caps]\napi_calls = 1000\n"))
    meter = Service(pool_file, tmp_path / "meter", METER_REDIS_URL=private_redis.url).start()
    prom = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{meter.port}")
    try:
        prom.start()
        yield meter, prom, private_redis
    finally:
        prom.stop()
        meter.stop()


def test_every_expression_runs_and_traffic_feeds_them(stack):
    meter, prom, redis_server = stack
    body = json.dumps({"name": "Loiret", "kind": "departement"}).encode()
    assert meter.request("PUT", "/v1/signatories/loiret", body,
                         {"Content-Type": "application/json", **auth("admin")})[0] in (200, 201)
    for round_ in range(3):
        traffic(meter, round_)
        time.sleep(1.5)
    up = 'up{job="meter"} == 1'
    prom.wait(lambda: len(prom.query(up)["data"]["result"]) == 1, "a successful scrape of meter")
    time.sleep(4)  # scrapes after the writer's inserts
    redis_server.shutdown()  # now decisions fall back to fail_open, and ingestion answers 503
    for round_ in range(3, 6):
        traffic(meter, round_)
        time.sleep(1.5)
    time.sleep(3)

    for expr in operations.expressions():
        result = prom.query(expr.replace("$__rate_interval", RATE_INTERVAL))
        assert result["status"] == "success", (expr, result)
        if not any(name in expr for name in NOT_YET_EXPORTED):
            assert result["data"]["result"], f"no series for {expr}"

    prom.wait(lambda: {r["name"] for g in prom.api("/api/v1/rules")["data"]["groups"] for r in g["rules"]}
              >= FED_ALERTS, "rules loaded")
    rules = [r for g in prom.api("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
    assert len(rules) == 7
    for rule in rules:
        assert rule["health"] != "err", rule
        result = prom.query(rule["query"])
        assert result["status"] == "success", (rule["name"], result)
        if rule["name"] in FED_ALERTS:
            assert result["data"]["result"], f"{rule['name']}: no series for {rule['query']}"
