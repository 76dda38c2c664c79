"""Start-up as a user meets it: `meter serve` refuses what would make it wrong, with a message
that names the problem, and no traceback."""
import json
import socket
import subprocess
import sys

import pytest

from tests.conftest import TOKENS, pool_toml
from tests.service import ROOT, Service, free_port

pytestmark = pytest.mark.e2e


def serve(tmp_path, pool_text: str, redis_url: str, **env: str) -> subprocess.CompletedProcess:
    pool = tmp_path / "pool.toml"
    pool.write_text(pool_text)
    environment = {"PATH": "/usr/bin:/bin", "METER_CONFIG": str(pool), "METER_DATA_DIR": str(tmp_path / "data"),
                   "METER_REDIS_URL": redis_url, "METER_HTTP_PORT": str(free_port()), **env}
    return subprocess.run([sys.executable, "-m", "meter", "serve"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_a_redis_that_may_evict_keys_is_refused(tmp_path, private_redis, pool_id):
    private_redis.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    done = serve(tmp_path, pool_toml(pool_id), private_redis.url)
    assert done.returncode == 2
    assert "maxmemory-policy" in done.stderr and "noeviction" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_redis_is_a_clear_error(tmp_path, pool_id):
    done = serve(tmp_path, pool_toml(pool_id), f"redis://127.0.0.1:{free_port()}/0")
    assert done.returncode != 0 and "Redis is unavailable" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_pool_file_names_the_key(tmp_path, pool_id):
    done = serve(tmp_path, pool_toml(pool_id, "[caps]\napi_calls = -5\n"), "redis://127.0.0.1:6379/0")
    assert done.returncode == 2 and "caps.api_calls" in done.stderr


def test_a_bad_variable_names_it(tmp_path, pool_id):
    done = serve(tmp_path, pool_toml(pool_id), "redis://127.0.0.1:6379/0", METER_DEDUP_WINDOW_S="soon")
    assert done.returncode == 2 and "METER_DEDUP_WINDOW_S" in done.stderr


@pytest.mark.redis
@pytest.mark.chdb
def test_a_full_redis_is_a_503_that_changes_nothing(tmp_path, private_redis, pool_id):
    """With `noeviction`, a Redis at its memory limit refuses writes: producers are told to come
    back later, writes fail closed, and once Redis has room the same batch is counted once."""
    pool = tmp_path / "pool.toml"
    pool.write_text(pool_toml(pool_id, "[enforcement]\nredis_timeout_ms = 2000\n"))
    svc = Service(pool, tmp_path / "data", METER_REDIS_URL=private_redis.url).start()
    try:
        batch = json.dumps([{"specversion": "1.0", "id": f"e{i}", "source": "s", "type": "api.call",
                             "subject": "x", "time": "2026-04-20T10:00:00Z", "data": {}} for i in range(3)]).encode()
        producer = {"Authorization": f"Bearer {TOKENS['producer']}",
                    "Content-Type": "application/cloudevents-batch+json"}
        private_redis.cli("CONFIG", "SET", "maxmemory", "1")  # below what it holds: every write is refused
        status, headers, body = svc.request("POST", "/v1/events", body=batch, headers=producer)
        assert status == 503 and int(headers["Retry-After"]) > 0, body
        assert json.loads(body)["error"]["type"] == "ledger_unavailable"
        gateway = {"Authorization": f"Bearer {TOKENS['gateway']}", "Content-Type": "application/json"}
        status, headers, body = svc.request("POST", "/v1/check", headers=gateway, body=json.dumps(
            {"signatory": "x", "metric": "update_bytes", "amount": 1}).encode())
        assert status == 200 and json.loads(body)["allowed"] is False  # writes fail closed
        assert headers["X-Meter-Degraded"] == "fail_closed"

        private_redis.cli("CONFIG", "SET", "maxmemory", "0")
        for expected in ({"accepted": 3, "duplicates": 0}, {"accepted": 0, "duplicates": 3}):
            status, _, body = svc.request("POST", "/v1/events", body=batch, headers=producer)
            assert (status, json.loads(body)) == (202, expected)
    finally:
        svc.stop()


@pytest.mark.redis
@pytest.mark.chdb
def test_malformed_http_is_one_info_line_not_an_error(tmp_path, pool_id):
    pool = tmp_path / "pool.toml"
    pool.write_text(pool_toml(pool_id))
    svc = Service(pool, tmp_path / "data", METER_REDIS_URL="redis://127.0.0.1:6379/0").start()
    try:
        with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: \x7f/\x01\r\n\r\n")
            assert conn.recv(100).split(b" ")[1] == b"400"
        assert svc.request("GET", "/healthz")[0] == 200
    finally:
        svc.stop()
    lines = [json.loads(line) for line in svc.log.read_text().splitlines() if line.startswith("{")]
    refused = [e for e in lines if e["msg"].startswith("malformed HTTP request refused (400)")]
    assert len(refused) == 1 and refused[0]["level"] == "info" and "exc" not in refused[0]
    assert not [e for e in lines if e["level"] == "error"]
