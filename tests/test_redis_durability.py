"""Redis durability, proven end to end: the real service on a Redis of this test's own, with AOF
on and ``appendfsync always`` (the compose file's setting), killed with SIGKILL while producers
are sending, then restarted on the same directory.

Every event that got a 202 is counted exactly once, in the Redis ledger and in ClickHouse (once
the writer has caught up). Events that got no 202 are retried by their producer with the same
ids, as DESIGN §3 asks of a producer: they may have been counted before the kill, but never
twice. The ledger comes back from the AOF: no rebuild from ClickHouse is needed.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from meter.core.periods import month_of
from meter.ledger.keys import Keys
from tests.conftest import TOKENS, pool_toml
from tests.service import ROOT, PrivateRedis, Service
from tests.test_authz import pool_used

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.chdb]
PRODUCER = {"Authorization": f"Bearer {TOKENS['producer']}", "Content-Type": "application/x-ndjson"}
PRODUCERS, BATCHES, BATCH = 4, 40, 20
TOTAL = PRODUCERS * BATCHES * BATCH


def batch(producer: int, b: int, at: str) -> bytes:
    return "\n".join(json.dumps({
        "specversion": "1.0", "id": f"p{producer}-{b}-{i}", "source": "durability", "type": "api.call",
        "time": at, "subject": "anyone", "data": {}}) for i in range(BATCH)).encode()


class Producers:
    """``PRODUCERS`` threads, each sending its batches in order and retrying one that got no 202
    (an error, a 503, or a dropped connection) with the same ids until it does."""

    def __init__(self, svc: Service, at: str) -> None:
        self.svc, self.at = svc, at
        self.acked: list[tuple[float, dict]] = []  # (when, the 202's body)
        self.refused = 0  # answers that were not a 202, and requests that got no answer
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(p,)) for p in range(PRODUCERS)]

    def _run(self, producer: int) -> None:
        for b in range(BATCHES):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    status, _, body = self.svc.request("POST", "/v1/events", batch(producer, b, self.at),
                                                       PRODUCER, timeout=10)
                except OSError:
                    status, body = 0, b""
                if status == 202:
                    with self.lock:
                        self.acked.append((time.monotonic(), json.loads(body)))
                    break
                with self.lock:
                    self.refused += 1
                time.sleep(0.05)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join(120)


def chdb_event_ids(data_dir: Path, pool_id: str) -> dict[str, int]:
    """{event id: rows in ClickHouse's events table}, read from the stopped service's chDB
    directory in a process of its own (chDB allows one database path per process)."""
    script = (
        "import asyncio, json, sys\n"
        "from pathlib import Path\n"
        "from meter.store.clickhouse import ClickHouseStore\n"
        "async def main():\n"
        "    store = await ClickHouseStore.open('', Path(sys.argv[1]), 'meter')\n"
        "    rows = await store.rows('SELECT id, count() FROM meter.events WHERE pool = {p:String} '\n"
        "                            \"AND source = 'durability' GROUP BY id\", {'p': sys.argv[2]})\n"
        "    await store.close()\n"
        "    print(json.dumps(dict(rows)))\n"
        "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", script, str(data_dir), pool_id], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def metric_value(svc: Service, name: str) -> float:
    text = svc.request("GET", "/metrics")[2].decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_redis_killed_mid_stream_loses_and_doubles_nothing(tmp_path, pool_id):
    redis_server = PrivateRedis(tmp_path / "redis", durable=True).start()
    pool_file = tmp_path / "pool.toml"
    pool_file.write_text(pool_toml(pool_id, "[enforcement]\nredis_timeout_ms = 2000\n"))
    data_dir = tmp_path / "data"
    svc = Service(pool_file, data_dir, METER_REDIS_URL=redis_server.url).start()
    try:
        now = datetime.now(UTC)
        period = month_of(now, ZoneInfo("Europe/Paris")).label
        producers = Producers(svc, now.isoformat())
        producers.start()
        deadline = time.monotonic() + 60
        while len(producers.acked) < PRODUCERS * BATCHES // 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        redis_server.kill9()  # mid-stream: every producer is still sending
        killed_at, acked_at_kill = time.monotonic(), len(producers.acked)
        time.sleep(1.0)
        redis_server.start()  # same port, same directory: the AOF is all it has
        producers.join()

        assert PRODUCERS * BATCHES // 3 <= acked_at_kill < PRODUCERS * BATCHES, "killed while producers sent"
        assert producers.refused > 0, "some requests met the dead Redis and got no 202"
        assert len(producers.acked) == PRODUCERS * BATCHES, "every batch got its 202 in the end"
        assert any(t > killed_at for t, _ in producers.acked)
        # no event newly counted twice in the 202s; a retry of one counted before the kill is a
        # duplicate (also when Redis applied a batch but died before the service heard it, so the
        # first try got no 202): the exact count is the ledger's and ClickHouse's, below
        assert sum(body["accepted"] for _, body in producers.acked) <= TOTAL
        assert all(body["accepted"] + body["duplicates"] == BATCH for _, body in producers.acked)

        # the Redis ledger: each event once, and no rebuild from ClickHouse was needed
        flow = redis_server.cli("HMGET", Keys(pool_id).flow("api_calls", period), "*", "unattributed")
        assert flow == [str(TOTAL), str(TOTAL)]
        assert metric_value(svc, "meter_ledger_rebuilds_total") == 0
        # ClickHouse, once the writer has caught up: the total, then each event's one row
        assert pool_used(svc, TOTAL, timeout=90)["used"] == TOTAL
    finally:
        svc.stop()
        redis_server.stop()
    rows = chdb_event_ids(data_dir, pool_id)
    expected = {f"p{p}-{b}-{i}" for p in range(PRODUCERS) for b in range(BATCHES) for i in range(BATCH)}
    assert set(rows) == expected and set(rows.values()) == {1}
