"""A failover under load with two meter processes (DESIGN §7: "never a lost or doubled event").

A cluster of its own (3 masters, 3 replicas), so that killing a master disturbs no other test.
Two ``meter serve`` processes, alike and stateless: both on the cluster with
``METER_REDIS_WAIT_REPLICAS=1`` and both on one ClickHouse through its HTTP interface (the
session's stand-in, or ``METER_TEST_CLICKHOUSE_URL``); the writer's lease lets one write at a
time. Producers send a known number of unique events through both, in batches, retrying each
batch until it is acknowledged; the master that holds the pool is killed (SIGKILL) a third of the
way through. At the end Redis and ClickHouse must both count exactly what was sent, and no answer
may have been anything but 202 or 503. How long the 503s lasted is printed (``-s`` shows it) and
kept in the test's report section, and held to a bound.

The promoted replica has no replica of its own, so the pool's writes answer 503 until the killed
node is started again (as an operator or a supervisor would, here as soon as the promotion is
seen): it rejoins as a replica, and acknowledged writes go on.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from meter.core.periods import FLOW_PERIOD, period_of
from meter.ledger.keys import Keys
from meter.store.clickhouse import ClickHouseStore
from tests.conftest import TOKENS, new_pool_id, pool_toml
from tests.redis_cluster import Cluster
from tests.service import Service

pytestmark = [pytest.mark.redis]
EVENTS = 3200
BATCH = 10
PRODUCERS = 8
RETRY_S = 0.2  # the producers retry sooner than Retry-After asks, to measure the outage finely
OUTAGE_BOUND_S = 20  # node timeout 1.5 s, promotion ~4 s: far above what a failover costs here


@dataclass
class Load:
    sent: int = 0  # events of the batches acknowledged so far
    answers: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, status); 0 = no answer
    accepted: int = 0
    duplicates: int = 0


def batch_of(i: int, now: str) -> bytes:
    return "\n".join(json.dumps({"specversion": "1.0", "id": f"f-{i * BATCH + j}", "source": "failover",
                                 "type": "api.call", "time": now, "subject": "loiret", "data": {"count": 1}})
                     for j in range(BATCH)).encode()


async def produce(session: aiohttp.ClientSession, urls: list[str], todo: asyncio.Queue[int], load: Load,
                  now: str) -> None:
    headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKENS['producer']}"}
    while not todo.empty():
        i = todo.get_nowait()
        body = batch_of(i, now)
        attempt = 0
        while True:
            url = urls[(i + attempt) % len(urls)]  # through both meters, the retry through the other
            attempt += 1
            try:
                async with session.post(f"{url}/v1/events", data=body, headers=headers) as resp:
                    load.answers.append((time.monotonic(), resp.status))
                    if resp.status == 202:
                        got = await resp.json()
                        load.accepted += got["accepted"]
                        load.duplicates += got["duplicates"]
                        load.sent += BATCH
                        break
                    if resp.status != 503:
                        raise AssertionError(f"batch {i}: {resp.status} {await resp.text()}")
            except (aiohttp.ClientError, TimeoutError):
                load.answers.append((time.monotonic(), 0))
            await asyncio.sleep(RETRY_S)


async def test_a_master_killed_under_load_loses_and_doubles_nothing(tmp_path, clickhouse_url, record_property):
    pool_id = new_pool_id()
    keys = Keys(pool_id)
    cluster = Cluster(tmp_path / "cluster").start()
    services: list[Service] = []
    store: ClickHouseStore | None = None
    try:
        pool_file = tmp_path / "pool.toml"
        pool_file.write_text(pool_toml(pool_id))
        database = f"t_failover_{uuid.uuid4().hex[:8]}"
        env = {"METER_REDIS_URL": cluster.url, "METER_REDIS_CLUSTER": "true", "METER_REDIS_WAIT_REPLICAS": "1",
               "METER_REDIS_WAIT_MS": "100", "METER_CLICKHOUSE_URL": clickhouse_url,
               "METER_CLICKHOUSE_DATABASE": database, "METER_WRITER_PACE_MS": "50", "METER_LOG_LEVEL": "WARNING"}
        for n in range(2):
            services.append(Service(pool_file, tmp_path / f"meter-{n}", **env).start())
        master = cluster.master_of(keys.stream)
        replica = cluster.replica_of(master)
        now = datetime.now(UTC)
        stamp = now.isoformat().replace("+00:00", "Z")
        load, todo = Load(), asyncio.Queue[int]()
        for i in range(EVENTS // BATCH):
            todo.put_nowait(i)
        begun = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            producers = [asyncio.create_task(produce(session, [s.url for s in services], todo, load, stamp))
                         for _ in range(PRODUCERS)]
            while load.sent < EVENTS // 3:
                assert time.monotonic() - begun < 120, f"a third not sent in 120 s: {load.sent}, {load.answers[-3:]}"
                assert not any(p.done() for p in producers), [p.exception() for p in producers if p.done()]
                await asyncio.sleep(0.01)
            cluster.kill9(master)
            killed_at = time.monotonic()
            # its replica is promoted, and has no replica of its own: with WAIT_REPLICAS=1 the pool's
            # writes answer 503 until the lost node is back (an operator, or a supervisor, restarts it)
            while replica.info("replication").get("role") != "master":
                assert time.monotonic() - killed_at < 30, "the replica was not promoted in 30 s"
                await asyncio.sleep(0.05)
            promoted_s = time.monotonic() - killed_at
            cluster.restart(master)
            restarted_s = time.monotonic() - killed_at
            await asyncio.wait_for(asyncio.gather(*producers), 180)
        took = time.monotonic() - begun

        failed = [(t, s) for t, s in load.answers if s != 202]
        assert {s for _, s in failed} <= {503}, f"answers other than 202 and 503: {sorted({s for _, s in failed})}"
        outage = max((t for t, _ in failed), default=killed_at) - killed_at
        first = min((t for t, _ in failed), default=killed_at) - killed_at

        # Redis: the pool's total for the month, on the promoted replica
        label = period_of(FLOW_PERIOD["api_calls"], now, ZoneInfo("Europe/Paris")).label
        client = cluster.client()
        in_redis = int(client.hget(keys.flow("api_calls", label), "*") or 0)
        # ClickHouse: once the writer (whichever meter holds the lease) has emptied the stream
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (int(client.get(keys.backlog) or 0)
                                               or client.exists(keys.writer_inflight)):
            await asyncio.sleep(0.1)
        client.close()
        store = await ClickHouseStore.open(clickhouse_url, tmp_path, database)
        [(rows, ids, amount)] = await store.rows(
            f"SELECT count(), uniqExact(id), sum(amount) FROM {database}.events "
            f"WHERE pool = '{pool_id}' AND type = 'api.call'")
        figures = {"sent": EVENTS, "acknowledged": load.sent, "in_redis": in_redis, "in_clickhouse_rows": rows,
                   "in_clickhouse_ids": ids, "in_clickhouse_amount": amount, "accepted": load.accepted,
                   "duplicates_answered": load.duplicates, "answers_503": len(failed),
                   "first_503_after_kill_s": round(first, 2), "last_503_after_kill_s": round(outage, 2),
                   "promoted_after_kill_s": round(promoted_s, 2),
                   "restarted_after_kill_s": round(restarted_s, 2), "run_s": round(took, 1),
                   "cluster_start_s": round(cluster.started_in_s, 1)}
        print("failover:", json.dumps(figures))
        record_property("failover", figures)
        assert load.sent == EVENTS
        assert in_redis == EVENTS, figures
        assert (rows, ids, amount) == (EVENTS, EVENTS, EVENTS), figures
        assert failed, "the kill made no 503: the master was not the pool's, or the load ended first"
        assert outage < OUTAGE_BOUND_S, figures

        # the restarted node rejoined as a replica, and acknowledged writes go on
        cluster.wait_ready(30)
        assert master.info("replication")["role"] == "slave"
        status, _, body = services[0].request(
            "POST", "/v1/events", body=batch_of(EVENTS // BATCH, stamp),
            headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKENS['producer']}"})
        assert status == 202 and json.loads(body) == {"accepted": BATCH, "duplicates": 0}
    finally:
        for service in services:
            service.stop()
        if store is not None:
            await store.command(f"DROP DATABASE IF EXISTS {store.db}")
            await store.close()
        cluster.stop()
