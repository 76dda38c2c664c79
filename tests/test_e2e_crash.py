"""End to end: the real service in a subprocess, killed with SIGKILL mid-write, then restarted,
on chDB and on the ClickHouse server path (the batch in flight is inserted again with the same
deduplication token after the restart).

Every event that got a 202 is counted exactly once; stream entries pending at the crash are
written after the restart.
"""
import json
import threading
import time

import pytest
import redis as redis_sync

from meter.ledger.keys import Keys
from tests.conftest import REDIS_URL, TOKENS, pool_toml
from tests.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
PRODUCER = {"Authorization": f"Bearer {TOKENS['producer']}", "Content-Type": "application/x-ndjson"}
READER = {"Authorization": f"Bearer {TOKENS['reader']}"}


def batch(b, size=500):
    return "\n".join(json.dumps({
        "specversion": "1.0", "id": f"{b}-{i}", "source": "e2e", "type": "api.call",
        "time": "2026-03-10T10:00:00Z", "subject": "anyone", "data": {}}) for i in range(size)).encode()


@pytest.fixture(params=["chdb", "server"])
def store_env(request):
    """The service's store: chDB in its process, or a ClickHouse server (the stand-in, or
    METER_TEST_CLICKHOUSE_URL) through clickhouse-connect."""
    return {} if request.param == "chdb" else request.getfixturevalue("server_env")


@pytest.fixture
def pool(tmp_path, pool_id, redis_client):
    """The pool file; ``redis_client`` deletes the pool's keys afterwards."""
    path = tmp_path / "pool.toml"
    path.write_text(pool_toml(pool_id))
    yield path, pool_id


async def test_sigkill_while_writing_then_restart_counts_each_event_once(tmp_path, pool, redis_client, store_env):
    pool_file, pool_id = pool
    svc = Service(pool_file, tmp_path / "data", **store_env).start()
    acked: set[int] = set()

    def produce():
        for b in range(60):
            try:
                if svc.request("POST", "/v1/events", batch(b), PRODUCER, timeout=5)[0] == 202:
                    acked.add(b)
            except OSError:
                pass  # the service died under us: this batch got no 202

    producer = threading.Thread(target=produce)
    producer.start()
    deadline = time.monotonic() + 30
    while len(acked) < 15 and time.monotonic() < deadline:
        time.sleep(0.005)
    backlog_at_kill = int(redis_sync.Redis.from_url(REDIS_URL).get(Keys(pool_id).backlog) or 0)
    svc.kill9()  # mid-stream: batches still coming in, and the writer with work in hand
    producer.join()
    assert 15 <= len(acked) < 60, "the service must die while the producer is still sending"
    assert backlog_at_kill > 0, "some accepted events were not yet in ClickHouse when it died"
    svc.start()
    # a real producer retries what got no 202; duplicates of what did are ignored
    for b in range(60):
        if b not in acked:
            assert svc.request("POST", "/v1/events", batch(b), PRODUCER)[0] == 202
    assert svc.request("POST", "/v1/events", batch(0), PRODUCER)[0] == 202
    total = _wait_usage(svc, 60 * 500)
    svc.stop()
    assert total == 60 * 500


async def test_pending_stream_entries_are_written_after_restart(tmp_path, pool, redis_client, store_env):
    pool_file, pool_id = pool
    svc = Service(pool_file, tmp_path / "data", METER_WRITER="false", **store_env).start()
    for b in range(4):
        assert svc.request("POST", "/v1/events", batch(b, 100), PRODUCER)[0] == 202
    svc.kill9()
    svc.env["METER_WRITER"] = "true"
    svc.start()
    assert _wait_usage(svc, 400) == 400
    assert svc.stop() == 0  # SIGTERM: a clean shutdown, and the log says so
    assert '"msg":"stopped"' in svc.log.read_text().splitlines()[-1]


def _wait_usage(svc: Service, expected: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    used = -1
    while time.monotonic() < deadline:
        status, body = svc.json("GET", "/v1/pool?period=2026-03", headers=READER)
        assert status == 200, body
        used = body["metrics"]["api_calls"]["used"]
        if used >= expected:
            time.sleep(0.5)  # and nothing more arrives after
            return svc.json("GET", "/v1/pool?period=2026-03", headers=READER)[1]["metrics"]["api_calls"]["used"]
        time.sleep(0.2)
    return used

