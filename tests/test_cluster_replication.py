"""Acknowledged writes and the replicas (METER_REDIS_WAIT_REPLICAS, DESIGN §7), and pools on
different masters, on a real Redis Cluster (3 masters, each with one replica) and on a plain
Redis with no replica.

A write that has not reached the replicas asked for in time answers 503 ``replicas_behind``: it
was made on the master, so the client's retry must count once, and it does (the event's id, the
check's id). Reads and checks that consume nothing never wait.
"""
import asyncio
import threading
import time

import pytest

from meter.app import create_app
from meter.config.settings import Settings
from meter.http import appkeys
from meter.observability.telemetry import Telemetry
from tests.conftest import auth, delete_pool_keys, make_config, new_pool_id, wait_written
from tests.redis_cluster import cluster_settings, redis_client  # noqa: F401  (a fixture: the cluster client)
from tests.test_events_api import NDJSON, event, ndjson, register, usage

pytestmark = [pytest.mark.redis, pytest.mark.chdb]


@pytest.fixture
def settings(redis_cluster, tmp_path):
    return cluster_settings(redis_cluster, tmp_path, redis_wait_ms=100)  # the default: a stalled replica's 503


async def send(client, *events):
    resp = await client.post("/v1/events", data=ndjson(list(events)), headers=NDJSON)
    return resp.status, resp.headers, await resp.json()


async def check(client, **body):
    resp = await client.post("/v1/check", json={"signatory": "loiret", "metric": "api_calls", **body},
                             headers=auth("gateway"))
    return resp.status, await resp.json()


def stall(node, seconds: float) -> threading.Thread:
    """The node sleeps (``DEBUG SLEEP``) on a thread: a replica that does not acknowledge anything."""
    thread = threading.Thread(target=node.cli, args=("DEBUG", "SLEEP", str(seconds)), kwargs={"timeout": seconds + 5})
    thread.start()
    time.sleep(0.1)  # the sleep has begun
    return thread


async def test_a_write_its_replica_has_not_is_not_acknowledged_and_its_retry_counts_once(client, redis_cluster):
    await register(client)
    keys = client.app[appkeys.LEDGER].keys
    master = redis_cluster.master_of(keys.stream)
    replica = redis_cluster.replica_of(master)
    thread = stall(replica, 1.0)
    try:
        status, headers, body = await send(client, event("e-1", count=3))
        assert status == 503 and body["error"]["type"] == "replicas_behind", body
        assert headers["Retry-After"] == "1" and "1 Redis replica" in body["error"]["message"]
        status, body = await check(client, amount=2, id="c-1")
        assert status == 503 and body.get("error", {}).get("type") == "replicas_behind", str(body)  # not degraded
        status, body = await check(client, amount=0, consume=False)
        assert status == 200 and body["allowed"], body  # a look changes nothing: it does not wait
    finally:
        await asyncio.to_thread(thread.join)
    redis_cluster.wait_ready(10)
    # both writes were made on the master: the retries find them and count nothing again
    status, _, body = await send(client, event("e-1", count=3))
    assert (status, body) == (202, {"accepted": 0, "duplicates": 1})
    status, body = await check(client, amount=2, id="c-1")
    assert status == 200 and body["used"] == 2 and "already decided" in body["reason"]
    await wait_written(client)
    assert (await usage(client, "loiret", "2026-03"))["api_calls"]["used"] == 3


async def test_more_replicas_than_a_master_has_refuses_every_write_and_no_read(client):
    await register(client)
    client.app[appkeys.LEDGER].replication.replicas = 2  # each master of the fixture has one
    status, _, body = await send(client, event("e-2"))
    assert status == 503 and "reached 1 of 2" in body["error"]["message"], body
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 5},
                             headers=auth("gateway"))
    assert resp.status == 503 and (await resp.json())["error"]["type"] == "replicas_behind"
    assert (await check(client, amount=1))[0] == 503
    assert (await check(client, amount=1, consume=False))[0] == 200
    resp = await client.get("/v1/usage", params={"signatory": "loiret", "period": "2026-03"}, headers=auth("reader"))
    assert resp.status == 200


async def test_a_plain_redis_without_replica_keeps_the_write_it_refused(private_redis, store, aiohttp_client, clock,
                                                                         tmp_path, pool_id):
    """Off the cluster the same: WAIT on the script's connection; the refused write is deduplicated."""
    base = {"redis_url": private_redis.url, "data_dir": tmp_path, "writer_block_ms": 20, "writer_pace_ms": 10,
            "scheduler": False}
    config = make_config(pool_id)
    waiting = await aiohttp_client(create_app(Settings(**base, redis_wait_replicas=1), config, clock=clock,
                                              telemetry=Telemetry(), store=store))
    status, _, body = await send(waiting, event("e-3", count=4))
    assert status == 503 and "reached 0 of 1" in body["error"]["message"], body
    await waiting.close()
    plain = await aiohttp_client(create_app(Settings(**base), config, clock=clock, telemetry=Telemetry(), store=store))
    status, _, body = await send(plain, event("e-3", count=4))
    assert (status, body) == (202, {"accepted": 0, "duplicates": 1})


async def test_two_pools_on_two_masters_count_apart(client, redis_cluster, cluster_redis, store, aiohttp_client, clock,
                                                    settings, pool_id):
    first = redis_cluster.master_of(f"meter:{{{pool_id}}}:stream")
    other_id = next(p for p in (new_pool_id() for _ in range(100))
                    if redis_cluster.master_of(f"meter:{{{p}}}:stream").port != first.port)
    second = redis_cluster.master_of(f"meter:{{{other_id}}}:stream")
    other = await aiohttp_client(create_app(settings, make_config(other_id), clock=clock, telemetry=Telemetry(),
                                            store=store))
    try:
        await register(client)
        await register(other)
        assert (await send(client, event("a-1", count=2), event("a-2", count=3)))[2]["accepted"] == 2
        assert (await send(other, event("a-1", count=7)))[2] == {"accepted": 1, "duplicates": 0}  # its own ids
        await wait_written(client)
        await wait_written(other)
        assert (await usage(client, "loiret", "2026-03"))["api_calls"]["used"] == 5
        assert (await usage(other, "loiret", "2026-03"))["api_calls"]["used"] == 7
        # each pool's keys live on its own master, which answers for them itself (no redirection)
        for pool, node in ((pool_id, first), (other_id, second)):
            assert node.cli("EXISTS", f"meter:{{{pool}}}:ledger_epoch") == 1
    finally:
        await other.close()
        await delete_pool_keys(cluster_redis, other_id)
