"""A hostile body costs little: the real service, an 8 KB gzip NDJSON body of bad lines (DESIGN §4).

Measured while the body is handled: the answer's size, the service's RSS growth, and the latency
of ``/v1/check`` from another client at the same time. Before the limits, this body (4 million
lines that are not JSON) was answered with 568 MB listing every line, the service grew by 2 GB
and checks stalled for 18 s. The bounds asserted are loose (a loaded 2-core machine), but each is
orders of magnitude below those figures.

By hand, against any checkout: ``python -m tests.test_hostile_input [ROOT]`` prints the figures.
"""
from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import TOKENS, new_pool_id, pool_toml
from tests.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
LINES = 4_000_000  # b"x\n" each: 8 MB once inflated (the default body limit), 8 KB of gzip
CHECK = json.dumps({"signatory": "anyone", "metric": "api_calls", "consume": False}).encode()


def hostile_body(lines: int = LINES, width: int = 1) -> bytes:
    return gzip.compress((b"x" * width + b"\n") * lines, 9)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(svc: Service, body: bytes | None = None) -> dict[str, float]:
    """Send the hostile body once while a second client checks in a loop; the figures."""
    assert svc.proc is not None
    body = body or hostile_body()
    check = {"Authorization": f"Bearer {TOKENS['gateway']}", "Content-Type": "application/json"}
    for _ in range(20):  # warm: the first checks load the script and the pool
        svc.request("POST", "/v1/check", CHECK, check)
    before = rss_kib(svc.proc.pid)
    peak, latencies, done = before, [], threading.Event()

    def checks() -> None:
        nonlocal peak
        while not done.is_set():
            started = time.perf_counter()
            status = svc.request("POST", "/v1/check", CHECK, check, timeout=120)[0]
            latencies.append(time.perf_counter() - started)
            assert status == 200
            peak = max(peak, rss_kib(svc.proc.pid))
            time.sleep(0.005)

    checker = threading.Thread(target=checks)
    checker.start()
    time.sleep(0.1)
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {TOKENS['producer']}", "Content-Type": "application/x-ndjson",
               "Content-Encoding": "gzip"}
    status, _, answer = svc.request("POST", "/v1/events", body, headers, timeout=600)
    handled = time.perf_counter() - started
    time.sleep(0.2)
    done.set()
    checker.join()
    peak = max(peak, rss_kib(svc.proc.pid))
    return {"body_bytes": len(body), "status": status, "answer_bytes": len(answer),
            "rss_growth_mib": (peak - before) / 1024, "handled_s": handled,
            "check_max_ms": max(latencies) * 1000, "checks": len(latencies)}


@pytest.fixture
def service(tmp_path, redis_client, pool_id):
    pool_file = tmp_path / "pool.toml"
    pool_file.write_text(pool_toml(pool_id))
    svc = Service(pool_file, tmp_path / "data", METER_SCHEDULER="false").start()
    yield svc
    svc.stop()


def test_a_hostile_body_gets_a_small_answer_and_checks_keep_answering(service):
    figures = measure(service)
    print(figures)
    assert figures["body_bytes"] < 10_000
    assert figures["status"] == 413  # 4 million lines: past max_batch_events, before any is parsed
    assert figures["answer_bytes"] <= 64 * 1024
    assert figures["rss_growth_mib"] < 200  # was +2 GB
    assert figures["check_max_ms"] < 2000  # was 18 s; usually a few ms
    assert figures["handled_s"] < 10
    log = service.log.read_text()
    assert "unhandled error" not in log and "Redis is unavailable" not in log


def test_a_batch_of_bad_lines_within_the_count_names_100_of_them(service):
    figures = measure(service, hostile_body(10_000, 790))  # 7.9 MB inflated: each line parsed, each bad
    assert figures["status"] == 400 and figures["answer_bytes"] <= 64 * 1024
    assert figures["rss_growth_mib"] < 200 and figures["check_max_ms"] < 2000


def main(root: str = ".") -> None:
    """The figures for the checkout at ``root`` (its ``meter`` package, this test's harness)."""
    import tempfile

    import tests.service as harness

    harness.ROOT = Path(root).resolve()
    import redis

    from meter.ledger.keys import Keys
    from tests.conftest import REDIS_URL

    pool_id = new_pool_id()
    with tempfile.TemporaryDirectory() as tmp:
        pool_file = Path(tmp) / "pool.toml"
        pool_file.write_text(pool_toml(pool_id))
        svc = Service(pool_file, Path(tmp) / "data", METER_SCHEDULER="false").start()
        try:
            print(json.dumps(measure(svc)))
        finally:
            svc.stop()
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(match=Keys(pool_id).pattern):
                client.delete(key)


if __name__ == "__main__":
    main(*sys.argv[1:])
