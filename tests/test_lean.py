"""The hot path's own Redis connection (meter/ledger/lean.py), on a real redis-server of the test's own."""
import asyncio
import time
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis
from redis import exceptions as rex

from meter.core.clock import FixedClock
from meter.core.errors import ReplicasBehind
from meter.decision.engine import Decider
from meter.decision.model import Ask
from meter.ledger.lean import LeanScripts, encode
from meter.ledger.stores import Stores
from meter.observability.telemetry import Telemetry
from tests.conftest import make_config
from tests.service import PrivateRedis


def test_commands_are_written_as_arrays_of_bulk_strings():
    assert encode(["EVALSHA", "ab", 2, b"k\r\n", "é"]) == \
        b"*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n2\r\n$3\r\nk\r\n\r\n$2\r\n\xc3\xa9\r\n"


async def test_concurrent_calls_each_get_their_own_reply(private_redis):
    lean = LeanScripts(private_redis.url, 2.0)
    try:
        replies = await asyncio.gather(*(lean.call("ECHO", f"call-{i}") for i in range(500)))
        assert replies == [f"call-{i}".encode() for i in range(500)]
        assert await lean.calls(["SET", "k", "1"], ["INCR", "k"], ["GET", "k"]) == [b"OK", 2, b"2"]
    finally:
        await lean.close()


async def test_replies_larger_than_one_read_arrive_whole_and_in_order(private_redis):
    lean = LeanScripts(private_redis.url, 2.0)
    try:
        big = [bytes([65 + i]) * (3 << 20) for i in range(3)]  # 3 MiB each: many reads a reply
        assert await asyncio.gather(*(lean.call("ECHO", b) for b in big), lean.call("PING")) == [*big, b"PONG"]
    finally:
        await lean.close()


async def test_errors_are_redis_pys_own_and_leave_the_connection_usable(private_redis):
    lean = LeanScripts(private_redis.url, 2.0)
    try:
        with pytest.raises(rex.NoScriptError):
            await lean.call("EVALSHA", "0" * 40, 0)
        with pytest.raises(rex.ResponseError, match="wrong number of arguments"):
            await lean.call("GET")
        assert await lean.call("PING") == b"PONG"
    finally:
        await lean.close()


async def test_a_caller_that_gives_up_does_not_shift_the_next_callers_reply(private_redis):
    lean = LeanScripts(private_redis.url, 2.0)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lean.call("BLPOP", "never", "0.3"), 0.05)
        assert await lean.call("ECHO", "mine") == b"mine"  # not the BLPOP's late nil
    finally:
        await lean.close()


async def test_a_dropped_connection_fails_its_calls_then_the_next_call_reconnects(private_redis):
    lean = LeanScripts(private_redis.url, 2.0)
    try:
        assert await lean.call("CLIENT", "SETNAME", "lean-under-test") == b"OK"
        private_redis.cli("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
        with pytest.raises(rex.ConnectionError):
            for _ in range(50):  # the kill reaches the socket in its own time
                await lean.call("PING")
                await asyncio.sleep(0.02)
        assert await lean.call("PING") == b"PONG"
    finally:
        await lean.close()


async def test_a_redis_away_is_a_connection_error(private_redis):
    url = private_redis.url
    private_redis.stop()
    lean = LeanScripts(url, 0.5)
    with pytest.raises(rex.ConnectionError):
        await lean.call("PING")


async def test_the_urls_password_and_database_are_used(private_redis):
    private_redis.cli("CONFIG", "SET", "requirepass", "s3cret")
    url = private_redis.url.replace("redis://", "redis://:s3cret@").rsplit("/", 1)[0] + "/5"
    lean = LeanScripts(url, 2.0)
    try:
        await lean.call("SET", "where", "db5")
        check = redis.Redis.from_url(url)
        assert await check.get("where") == b"db5"
        await check.aclose()
    finally:
        await lean.close()
    unauthenticated = LeanScripts(private_redis.url, 2.0)
    try:
        with pytest.raises(rex.AuthenticationError):
            await unauthenticated.call("PING")
    finally:
        await unauthenticated.close()


def test_a_plain_redis_gets_the_lean_connection_over_tcp_or_a_unix_socket():
    assert LeanScripts.usable("redis://127.0.0.1:6379/0", cluster=False)
    assert LeanScripts.usable("unix:///run/redis.sock", cluster=False)
    assert not LeanScripts.usable("redis://127.0.0.1:7000/0", cluster=True)
    assert not LeanScripts.usable("rediss://redis.example:6380/0", cluster=False)


async def test_decisions_go_through_it_over_a_unix_socket_in_the_database_named(tmp_path):
    server = PrivateRedis(tmp_path / "redis", unix=True).start()
    stores = await Stores.open(f"{server.unix_url}?db=3", "lean-unix")
    client = redis.Redis.from_url(f"{server.unix_url}?db=3")
    try:
        await client.set(stores.keys.ledger_epoch, 1)
        clock = FixedClock(datetime(2026, 11, 10, 12, tzinfo=UTC))
        decider = Decider(stores.decisions(3600, 2.0), make_config("lean-unix"), clock, Telemetry())
        assert decider.ledger.lean is not None and decider.ledger.lean.path == f"{server.socket_dir}/redis.sock"
        [first] = await decider.decide([Ask("api_calls", 3, "sig-a")])
        [second] = await decider.decide([Ask("api_calls", 4, "sig-a")])
        assert first.allowed and second.used - first.used == 4
        assert int(await client.hget(stores.keys.flow("api_calls", "2026-11"), "*")) == 7  # counted in db 3
        # the script went over the socket (flags=U), from a connection that selected db 3
        clients = str(server.cli("CLIENT", "LIST")).splitlines()
        assert any("flags=U" in c and " db=3 " in c and "cmd=evalsha" in c for c in clients), clients
    finally:
        await client.aclose()
        await stores.close()
        server.stop()


async def test_a_missing_unix_socket_is_a_connection_error_naming_it(tmp_path):
    lean = LeanScripts(f"unix://{tmp_path}/nothing.sock", timeout_s=1.0)
    with pytest.raises(rex.ConnectionError, match="nothing.sock"):
        await lean.call("PING")


async def test_decisions_go_through_it_and_survive_a_flushed_script_cache(private_redis):
    stores = await Stores.open(private_redis.url, "lean-pool")
    try:
        config = make_config("lean-pool")
        client = redis.Redis.from_url(private_redis.url)
        await client.set(stores.keys.ledger_epoch, 1)
        clock = FixedClock(datetime(2026, 11, 10, 12, tzinfo=UTC))
        decider = Decider(stores.decisions(3600, 2.0), config, clock, Telemetry())
        assert decider.ledger.lean is not None
        [first] = await decider.decide([Ask("api_calls", 3, "sig-a")])
        await client.script_flush()
        [second] = await decider.decide([Ask("api_calls", 4, "sig-a")])
        assert first.allowed and second.allowed and second.used - first.used == 4
        stats = await client.info("clients")
        assert int(stats["connected_clients"]) >= 2  # redis-py's pool and the lean connection
        await client.aclose()
    finally:
        await stores.close()


async def test_a_consuming_decision_waits_for_replicas_on_the_same_connection(private_redis):
    stores = await Stores.open(private_redis.url, "lean-wait", wait_replicas=1, wait_ms=50)
    client = redis.Redis.from_url(private_redis.url)
    try:
        await client.set(stores.keys.ledger_epoch, 1)
        clock = FixedClock(datetime(2026, 11, 10, 12, tzinfo=UTC))
        decider = Decider(stores.decisions(3600, 2.0), make_config("lean-wait"), clock, Telemetry())
        [peek] = await decider.decide([Ask("api_calls", 1, "sig-a", consume=False)])  # writes nothing: no WAIT
        assert peek.allowed
        with pytest.raises(ReplicasBehind, match="0 of 1"):  # no replica here: the WAIT answers 0
            await decider.decide([Ask("api_calls", 1, "sig-a")])
    finally:
        await client.aclose()
        await stores.close()


async def test_a_call_past_its_timeout_fails_alone_and_the_next_gets_its_own_reply(private_redis):
    lean = LeanScripts(private_redis.url, timeout_s=2.0)
    try:
        assert await lean.call("PING") == b"PONG"
        private_redis.cli("CLIENT", "PAUSE", "700", "ALL")  # Redis holds every command for 0.7 s
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await lean.call("ECHO", "late", timeout_s=0.2)
        with pytest.raises(TimeoutError):  # a pipelined pair expires together
            await lean.calls(["ECHO", "a"], ["ECHO", "b"], timeout_s=0.1)
        assert time.monotonic() - started < 0.6
        # the late replies are read and dropped when they come: the next call gets its own
        assert await lean.call("ECHO", "next", timeout_s=3.0) == b"next"
    finally:
        await lean.close()


async def test_a_decision_redis_holds_past_the_timeout_is_answered_by_the_fail_mode(private_redis):
    stores = await Stores.open(private_redis.url, "lean-slow")
    client = redis.Redis.from_url(private_redis.url)
    try:
        await client.set(stores.keys.ledger_epoch, 1)
        clock = FixedClock(datetime(2026, 11, 10, 12, tzinfo=UTC))
        decider = Decider(stores.decisions(3600, 0.2), make_config("lean-slow"), clock, Telemetry())
        assert (await decider.decide([Ask("api_calls", 1, "sig-a")]))[0].degraded is None
        private_redis.cli("CLIENT", "PAUSE", "700", "ALL")
        [held] = await decider.decide([Ask("api_calls", 1, "sig-a")])
        assert held.degraded == "fail_open" and "did not answer within 200 ms" in held.reason
        await asyncio.sleep(0.7)
        [after] = await decider.decide([Ask("api_calls", 1, "sig-a")])
        assert after.allowed and after.degraded is None
    finally:
        await client.aclose()
        await stores.close()
