"""The hot path on the real Redis and chDB: atomic decisions, periods, idempotency, reservations,
shadow mode, fail modes, ledger rebuild, and denials history."""
import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis

from meter.core.errors import ScriptRefused
from meter.decision.engine import Decider
from meter.decision.model import Ask
from meter.http import appkeys
from meter.ledger.redis_decisions import RedisDecisions
from meter.observability.telemetry import Telemetry
from tests.conftest import REDIS_URL, auth, make_config, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
CAPS = "[caps]\napi_calls = 100\nupdate_bytes = 1000\ndataset_records = 50\nrecords = 1000\n"


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, CAPS)


async def check(client, status=200, **body):
    resp = await client.post("/v1/check", json=body, headers=auth("gateway"))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def fill(client, n, signatory="anyone", metric="api_calls"):
    body = [{"signatory": signatory, "metric": metric} for _ in range(n)]
    resp = await client.post("/v1/check", json=body, headers=auth("gateway"))
    return await resp.json()


async def test_concurrent_checks_never_exceed_the_cap(client, config):
    """Many processes' worth of concurrent checks at a nearly full cap: exactly the room is given."""
    await fill(client, 90)
    app = client.app
    deciders = []
    for _ in range(4):  # four independent clients, as four worker processes would be
        conn = redis.Redis.from_url(REDIS_URL)
        rd = RedisDecisions(conn, app[appkeys.LEDGER].keys, 3600, 2.0)
        deciders.append((conn, Decider(rd, config, app[appkeys.CLOCK], Telemetry())))
    asks = [Ask(metric="api_calls", signatory=f"s{i % 7}") for i in range(400)]
    results = await asyncio.gather(*(deciders[i % 4][1].decide([a]) for i, a in enumerate(asks)))
    allowed = sum(r[0].allowed for r in results)
    assert allowed == 10
    used = await app[appkeys.LEDGER].client.hget(app[appkeys.LEDGER].keys.flow("api_calls", "2026-04"), "*")
    assert int(used) == 100
    for conn, _ in deciders:
        await conn.aclose()


async def test_answer_shape_and_denial(client):
    first = await check(client, signatory="loiret", metric="api_calls", amount=60)
    assert first == {"allowed": True, "metric": "api_calls", "scope": "pool", "limit": 100, "used": 60,
                     "remaining": 40, "reset": "2026-05-01T00:00:00+02:00", "signatory": "unattributed"}
    denied = await check(client, signatory="loiret", metric="api_calls", amount=41)
    assert denied["allowed"] is False and denied["used"] == 60 and denied["remaining"] == 40
    assert "exceeded" in denied["reason"]
    look = await check(client, signatory="loiret", metric="api_calls", amount=0)
    assert look["allowed"] is True and look["used"] == 60


async def test_id_makes_a_retry_count_once(client):
    a = await check(client, signatory="x", metric="api_calls", amount=5, id="req-1")
    b = await check(client, signatory="x", metric="api_calls", amount=5, id="req-1")
    assert a["used"] == b["used"] == 5 and "already decided" in b["reason"]
    assert (await check(client, signatory="x", metric="api_calls", amount=0))["used"] == 5


async def test_an_id_sent_with_another_request_is_a_conflict_that_changes_nothing(client):
    await check(client, signatory="x", metric="api_calls", amount=5, id="req-2")
    for other in ({"signatory": "y", "metric": "api_calls", "amount": 5},  # another signatory
                  {"signatory": "x", "metric": "update_bytes", "amount": 5},  # another metric
                  {"signatory": "x", "metric": "api_calls", "amount": 6}):  # another amount
        err = (await check(client, status=409, id="req-2", **other))["error"]
        assert err["type"] == "conflict" and err["details"] == [
            {"index": 0, "field": "id", "reason": "already used for a different request"}]
    batch = [{"signatory": "y", "metric": "api_calls", "id": "fresh"},
             {"signatory": "y", "metric": "api_calls", "id": "req-2"}]
    resp = await client.post("/v1/check", json=batch, headers=auth("gateway"))
    assert resp.status == 409 and (await resp.json())["error"]["details"][0]["index"] == 1
    # nothing of the refused requests was counted, and the first is still replayed
    assert (await check(client, signatory="y", metric="api_calls", amount=0))["used"] == 5  # the pool's
    assert (await check(client, signatory="x", metric="update_bytes", amount=0))["used"] == 0
    assert "already decided" in (await check(client, signatory="x", metric="api_calls", amount=5, id="req-2"))["reason"]


async def test_a_conflicting_id_fails_its_caller_only(client):
    await check(client, signatory="x", metric="api_calls", id="taken")
    bodies = [{"signatory": f"s{i}", "metric": "api_calls"} for i in range(20)]
    bodies[7] = {"signatory": "other", "metric": "api_calls", "id": "taken"}
    resps = await asyncio.gather(*(client.post("/v1/check", json=b, headers=auth("gateway")) for b in bodies))
    assert [r.status for r in resps] == [409 if i == 7 else 200 for i in range(20)]
    assert (await check(client, signatory="x", metric="api_calls", amount=0))["used"] == 20  # 1 + 19


async def test_consume_false_and_batches_in_order(client):
    out = await fill(client, 3)
    assert [d["used"] for d in out] == [1, 2, 3]
    peek = await check(client, signatory="x", metric="api_calls", amount=50, consume=False)
    assert peek["allowed"] and peek["used"] == 3


async def test_checks_are_usage_and_a_repeating_event_is_a_duplicate(client):
    await check(client, signatory="x", metric="api_calls", amount=1, id="call-7")
    event = {"specversion": "1.0", "id": "gw-7", "source": "gw", "type": "api.call", "time": "2026-04-20T11:00:00Z",
             "subject": "x", "data": {"check_id": "call-7"}}
    resp = await client.post("/v1/events", json=event, headers=auth("producer"))
    assert await resp.json() == {"accepted": 0, "duplicates": 1}
    await wait_written(client)
    resp = await client.get("/v1/pool?period=2026-04", headers=auth("reader"))
    assert (await resp.json())["metrics"]["api_calls"]["used"] == 1


async def test_periods_reset_at_local_midnight(client):
    clock = client.app[appkeys.CLOCK]
    clock.set(datetime(2026, 3, 31, 21, 59, tzinfo=UTC))  # 23:59 on 31 March in Paris
    assert (await check(client, signatory="x", metric="api_calls", amount=100))["allowed"]
    assert not (await check(client, signatory="x", metric="api_calls"))["allowed"]
    clock.set(datetime(2026, 3, 31, 22, 0, tzinfo=UTC))  # midnight, 1 April
    fresh = await check(client, signatory="x", metric="api_calls")
    assert fresh["allowed"] and fresh["used"] == 1 and fresh["reset"] == "2026-05-01T00:00:00+02:00"
    # update_bytes is per local day, including the 23-hour spring-forward day
    clock.set(datetime(2026, 3, 29, 21, 30, tzinfo=UTC))  # 23:30 local on 29 March
    day = await check(client, signatory="x", metric="update_bytes", amount=1000)
    assert day["allowed"] and day["reset"] == "2026-03-30T00:00:00+02:00"
    clock.set(datetime(2026, 3, 29, 22, 0, tzinfo=UTC))
    assert (await check(client, signatory="x", metric="update_bytes", amount=1000))["allowed"]


async def test_leap_day_is_its_own_day(client):
    clock = client.app[appkeys.CLOCK]
    clock.set(datetime(2028, 2, 29, 12, tzinfo=UTC))
    d = await check(client, signatory="x", metric="update_bytes", amount=600)
    assert d["reset"] == "2028-03-01T00:00:00+01:00"
    assert not (await check(client, signatory="x", metric="update_bytes", amount=600))["allowed"]


async def test_dataset_cap_is_per_dataset(client):
    snap = {"specversion": "1.0", "id": "s1", "source": "bo", "type": "dataset.records", "time": "2026-04-20T10:00:00Z",
            "subject": "x", "data": {"dataset": "big", "records": 45, "raw_bytes": 10}}
    await client.post("/v1/events", json=snap, headers=auth("producer"))
    denied = await check(client, signatory="x", metric="dataset_records", dataset="big", amount=6)
    assert denied["allowed"] is False and denied["scope"] == "dataset" and denied["used"] == 45
    assert (await check(client, signatory="x", metric="dataset_records", dataset="small", amount=6))["allowed"]
    resp = await client.post("/v1/check", json={"signatory": "x", "metric": "dataset_records"}, headers=auth("gateway"))
    assert resp.status == 400


async def test_bad_checks_are_named_and_change_nothing(client):
    body = [{"signatory": "x", "metric": "api_calls"}, {"metric": "nope", "amount": -1, "extra": 1}]
    resp = await client.post("/v1/check", json=body, headers=auth("gateway"))
    assert resp.status == 400
    fields = {(d["index"], d["field"]) for d in (await resp.json())["error"]["details"]}
    assert fields == {(1, "metric"), (1, "amount"), (1, "signatory"), (1, "extra")}
    assert (await check(client, signatory="x", metric="api_calls", amount=0))["used"] == 0
    resp = await client.post("/v1/check", data=b"{nope", headers=auth("gateway"))
    assert resp.status == 400
    resp = await client.post("/v1/check", json={"signatory": "x", "metric": "api_calls"}, headers=auth("producer"))
    assert resp.status == 403


async def test_reservations_hold_commit_release_and_expire(client):
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 700},
                             headers=auth("gateway"))
    assert resp.status == 201
    held = await resp.json()
    assert held["used"] == 700 and held["expires_at"].endswith("+02:00")
    resp = await client.post("/v1/reservations", json={"signatory": "y", "metric": "update_bytes", "amount": 400},
                             headers=auth("gateway"))
    assert resp.status == 409 and (await resp.json())["allowed"] is False
    resp = await client.post(f"/v1/reservations/{held['id']}/commit", json={"amount": 500}, headers=auth("gateway"))
    assert resp.status == 200 and (await resp.json())["committed"] == 500
    assert (await check(client, signatory="x", metric="update_bytes", amount=0))["used"] == 500
    resp = await client.post(f"/v1/reservations/{held['id']}/commit", json={"amount": 1}, headers=auth("gateway"))
    assert resp.status == 404
    # a reservation that is never settled expires by itself
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 500,
                                                       "ttl_s": 60}, headers=auth("gateway"))
    assert resp.status == 201
    assert not (await check(client, signatory="x", metric="update_bytes", amount=1))["allowed"]
    client.app[appkeys.CLOCK].set(datetime(2026, 4, 20, 12, 2, tzinfo=UTC))
    assert (await check(client, signatory="x", metric="update_bytes", amount=1))["used"] == 501
    # releasing gives the capacity back at once
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 400},
                             headers=auth("gateway"))
    rid = (await resp.json())["id"]
    assert (await client.delete(f"/v1/reservations/{rid}", headers=auth("gateway"))).status == 200
    assert (await check(client, signatory="x", metric="update_bytes", amount=0))["used"] == 501


async def test_an_expired_reservation_cannot_be_committed(client):
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 10,
                                                       "ttl_s": 60}, headers=auth("gateway"))
    rid = (await resp.json())["id"]
    client.app[appkeys.CLOCK].set(datetime(2026, 4, 20, 12, 1, 1, tzinfo=UTC))  # no release job ran yet
    resp = await client.post(f"/v1/reservations/{rid}/commit", json={"amount": 10}, headers=auth("gateway"))
    assert resp.status == 409 and (await resp.json())["error"]["type"] == "reservation_expired"
    assert (await check(client, signatory="x", metric="update_bytes", amount=0))["used"] == 0
    resp = await client.post(f"/v1/reservations/{rid}/commit", json={"amount": 10}, headers=auth("gateway"))
    assert resp.status == 409  # asked again: still expired, not unknown


async def test_a_reservation_released_by_the_sweep_cannot_be_committed(client):
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 10,
                                                       "ttl_s": 60}, headers=auth("gateway"))
    rid = (await resp.json())["id"]
    client.app[appkeys.CLOCK].set(datetime(2026, 4, 20, 12, 1, 1, tzinfo=UTC))
    assert (await check(client, signatory="x", metric="update_bytes", amount=0))["used"] == 0  # the sweep ran
    resp = await client.post(f"/v1/reservations/{rid}/commit", json={"amount": 10}, headers=auth("gateway"))
    assert resp.status == 409 and (await resp.json())["error"]["type"] == "reservation_expired"
    resp = await client.post("/v1/reservations/nope/commit", json={"amount": 10}, headers=auth("gateway"))
    assert resp.status == 404


async def test_committing_more_than_a_reservation_holds_is_409_and_commits_nothing(client):
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 10},
                             headers=auth("gateway"))
    rid = (await resp.json())["id"]
    resp = await client.post(f"/v1/reservations/{rid}/commit", json={"amount": 11}, headers=auth("gateway"))
    assert resp.status == 409 and (await resp.json())["error"]["type"] == "reservation_exceeded"
    resp = await client.post(f"/v1/reservations/{rid}/commit", json={"amount": 10}, headers=auth("gateway"))
    assert resp.status == 200  # still held, whole


async def test_a_malformed_decision_changes_nothing(client):
    """decide.lua reads every argument before it writes: a decision with an amount that is no number is
    refused, and the whole batch with it."""
    app = client.app
    rd = RedisDecisions(app[appkeys.LEDGER].client, app[appkeys.LEDGER].keys, 3600, 2.0)
    decider = Decider(rd, app[appkeys.CONFIG], app[appkeys.CLOCK], Telemetry())
    now = app[appkeys.CLOCK].now()
    good = decider._args(Ask(metric="api_calls", signatory="x", amount=3), now, {}, {})
    bad = good._replace(amount="3")  # a string once packed
    with pytest.raises(ScriptRefused, match="BAD_META decision 2"):
        await rd.decide([good, bad], int(now.timestamp() * 1000))
    assert (await check(client, signatory="x", metric="api_calls", amount=0))["used"] == 0


async def test_callers_sharing_a_script_call_are_each_counted_by_outcome(client):
    """The decision counters move once a script call, for all the callers it carried."""
    app = client.app
    metrics = Telemetry()
    decider = Decider(app[appkeys.DECIDER].ledger, app[appkeys.CONFIG], app[appkeys.CLOCK], metrics)
    await fill(client, 97)  # 3 api calls left in the pool
    answers = await asyncio.gather(*(decider.decide([Ask(metric="api_calls", signatory="x")] * 2) for _ in range(3)))
    assert [d.allowed for pair in answers for d in pair] == [True, True, True, False, False, False]
    sample = metrics.registry.get_sample_value
    assert sample("meter_decision_batch_size_count") == 1 and sample("meter_decision_batch_size_sum") == 6  # one call
    assert sample("meter_decisions_total", {"metric": "api_calls", "outcome": "allowed", "scope": "pool"}) == 3
    assert sample("meter_decisions_total", {"metric": "api_calls", "outcome": "denied", "scope": "pool"}) == 3


async def test_lost_script_is_reloaded(client):
    await check(client, signatory="x", metric="api_calls")
    await client.app[appkeys.LEDGER].client.script_flush()
    assert (await check(client, signatory="x", metric="api_calls"))["used"] == 2


async def test_flushed_ledger_is_rebuilt_before_deciding(client, redis_client, pool_id):
    from tests.conftest import delete_pool_keys

    await fill(client, 100)
    await wait_written(client)
    await delete_pool_keys(redis_client, pool_id)  # Redis lost everything of this pool
    denied = await check(client, signatory="x", metric="api_calls")
    assert denied["allowed"] is False and denied["used"] == 100


async def send_event(client, event_id, **data):
    event = {"specversion": "1.0", "id": event_id, "source": "gw", "type": "api.call",
             "time": "2026-04-20T11:00:00Z", "subject": "x", "data": data}
    resp = await client.post("/v1/events", json=event, headers=auth("producer"))
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def test_a_rebuild_restores_dedup_so_nothing_counts_twice_across_a_redis_loss(client, redis_client, pool_id):
    from tests.conftest import delete_pool_keys

    assert await send_event(client, "ev-1") == {"accepted": 1, "duplicates": 0}
    await check(client, signatory="x", metric="api_calls", amount=2, id="call-a")  # a check with an id
    assert await send_event(client, "ev-2", check_id="call-b") == {"accepted": 1, "duplicates": 0}
    await wait_written(client)
    await delete_pool_keys(redis_client, pool_id)  # Redis lost everything of this pool

    look = await check(client, signatory="x", metric="api_calls", amount=0)  # rebuilds first
    assert look["used"] == 4
    assert await send_event(client, "ev-1") == {"accepted": 0, "duplicates": 1}  # the event again
    assert await send_event(client, "ev-3", check_id="call-a") == {"accepted": 0, "duplicates": 1}
    again = await check(client, signatory="x", metric="api_calls", amount=2, id="call-a")  # a retry
    assert again["allowed"] and again["used"] == 4 and "already decided" in again["reason"]
    # the id still names that request only
    err = (await check(client, status=409, signatory="x", metric="api_calls", amount=3, id="call-a"))["error"]
    assert err["details"][0]["field"] == "id"
    named = await check(client, signatory="x", metric="api_calls", amount=1, id="call-b")  # counted as ev-2
    assert named["allowed"] and named["used"] == 4
    assert (await check(client, signatory="x", metric="api_calls", amount=0))["used"] == 4
    # each key lives what it had left of the dedup window, no more
    ledger = client.app[appkeys.LEDGER]
    ttl = await redis_client.ttl(ledger.keys.seen("gw", "ev-1"))
    assert client.app[appkeys.SETTINGS].dedup_window_s - 60 < ttl <= client.app[appkeys.SETTINGS].dedup_window_s
    # and a full pool does not turn the retry of a request already allowed into a denial
    await fill(client, 96)
    assert not (await check(client, signatory="x", metric="api_calls"))["allowed"]
    retry = await check(client, signatory="x", metric="api_calls", amount=2, id="call-a")
    assert retry["allowed"] and retry["used"] == 100 and "already decided" in retry["reason"]


async def test_a_rebuild_skips_events_older_than_the_dedup_window(client, redis_client, pool_id):
    from tests.conftest import delete_pool_keys

    clock = client.app[appkeys.CLOCK]
    assert await send_event(client, "ev-old") == {"accepted": 1, "duplicates": 0}
    await wait_written(client)
    window = client.app[appkeys.SETTINGS].dedup_window_s
    clock.set(clock.now() + timedelta(seconds=window - 3600))
    assert await send_event(client, "ev-new") == {"accepted": 1, "duplicates": 0}
    await wait_written(client)
    clock.set(clock.now() + timedelta(seconds=1800))  # ev-old has 30 min left, ev-new nearly all
    await delete_pool_keys(redis_client, pool_id)
    await check(client, signatory="x", metric="api_calls", amount=0)  # rebuilds
    keys = client.app[appkeys.LEDGER].keys
    assert 1700 < await redis_client.ttl(keys.seen("gw", "ev-old")) <= 1800
    assert await redis_client.ttl(keys.seen("gw", "ev-new")) > window - 1900
    clock.set(clock.now() + timedelta(seconds=3600))  # now past ev-old's window
    await delete_pool_keys(redis_client, pool_id)
    await check(client, signatory="x", metric="api_calls", amount=0)
    assert not await redis_client.exists(keys.seen("gw", "ev-old"))
    assert await redis_client.exists(keys.seen("gw", "ev-new"))


async def test_denials_become_per_minute_rows(client):
    from meter.jobs.scheduler import Jobs

    await fill(client, 100)
    await fill(client, 30)  # 30 denials of one signatory, metric and scope
    app = client.app
    app[appkeys.CLOCK].set(datetime(2026, 4, 20, 12, 1, 30, tzinfo=UTC))
    jobs = Jobs(app[appkeys.STORES].jobs, app[appkeys.CLOCK], release_expired=None, reconcile=None)
    assert await jobs.flush_denials() == 1
    await wait_written(client)
    store = app[appkeys.STORE]
    rows = await store.rows(f"SELECT signatory, metric, scope, sum(denials) FROM {store.db}.denials GROUP BY ALL")
    assert rows == [("unattributed", "api_calls", "pool", 30)]


async def test_reconcile_reports_no_drift_once_written(client):
    await fill(client, 12)
    await wait_written(client)
    drift = await client.app[appkeys.REBUILDER].reconcile()
    assert drift == {"api_calls": 0, "update_bytes": 0}


class TestShadowAndFailModes:
    @pytest.fixture
    def config(self, pool_id):
        return make_config(pool_id, CAPS + "[enforcement]\nenforce_metrics = { api_calls = false }\n")

    async def test_shadow_mode_counts_but_never_denies(self, client):
        await fill(client, 100)
        d = await check(client, signatory="x", metric="api_calls")
        assert d["allowed"] is True and "shadow" in d["reason"] and d["used"] == 101
        metrics = client.app[appkeys.TELEMETRY].registry
        labels = {"metric": "api_calls", "outcome": "shadow_denied", "scope": "pool"}
        assert metrics.get_sample_value("meter_decisions_total", labels) == 1

    async def test_redis_down_applies_each_metrics_fail_mode(self, client, config):
        down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        rd = RedisDecisions(down, client.app[appkeys.LEDGER].keys, 3600, 0.2)
        metrics = Telemetry()
        decider = Decider(rd, config, client.app[appkeys.CLOCK], metrics)
        calls, writes = await decider.decide([Ask(metric="api_calls", signatory="x"),
                                              Ask(metric="update_bytes", signatory="x")])
        assert calls.allowed and calls.degraded == "fail_open"
        assert not writes.allowed and writes.degraded == "fail_closed"
        sample = metrics.registry.get_sample_value("meter_degraded_decisions_total",
                                                   {"metric": "api_calls", "mode": "fail_open"})
        assert sample == 1
        await down.aclose()


def test_clock_fixture_is_mid_april(clock):
    assert clock.now() - datetime(2026, 4, 20, 12, tzinfo=UTC) == timedelta(0)


def test_degraded_deny_asks_for_a_retry_soon_not_at_the_period_end():
    from meter.decision.gateway import rate_headers
    from meter.decision.model import Decision

    now = datetime(2026, 4, 20, 12, tzinfo=UTC)
    closed = Decision(False, "update_bytes", "pool", 1000, None, None, "2026-04-21T00:00:00+02:00", "x",
                      degraded="fail_closed")
    assert rate_headers(closed, now, 86400)["Retry-After"] == "2"
    denied = Decision(False, "update_bytes", "pool", 1000, 1000, 0, "2026-04-21T00:00:00+02:00", "x")
    assert rate_headers(denied, now, 86400)["Retry-After"] == str(10 * 3600)


async def test_counted_checks_and_commits_reach_history_as_rows_built_from_facts(client):
    """decide.lua and reservation.lua append facts; the writer builds the rows: summed per
    signatory and dataset over a batch, the pool's local day, the checks' keys, the ids."""
    app = client.app
    app[appkeys.CLOCK].set(datetime(2026, 4, 19, 22, 30, 0, 250_000, tzinfo=UTC))  # 00:30 on 20 April in Paris
    resp = await client.post("/v1/check", headers=auth("gateway"), json=[
        {"signatory": "x", "metric": "api_calls", "amount": 2, "id": "c-1"},
        {"signatory": "x", "metric": "api_calls", "amount": 3},
        {"signatory": "x", "metric": "update_bytes", "amount": 7, "dataset": "d1"},
        {"signatory": "x", "metric": "api_calls", "amount": 1, "consume": False}])
    assert resp.status == 200
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 40},
                             headers=auth("gateway"))
    rid = (await resp.json())["id"]
    resp = await client.post(f"/v1/reservations/{rid}/commit", json={"amount": 30}, headers=auth("gateway"))
    assert resp.status == 200
    await wait_written(client)
    store = app[appkeys.STORE]
    rows = await store.rows(
        f"SELECT source, id, type, signatory, subject, dataset, amount, length(check_keys), toString(day),"
        f" toUnixTimestamp64Milli(time), toUnixTimestamp64Milli(received) FROM {store.db}.events ORDER BY type, amount")
    at = int(datetime(2026, 4, 19, 22, 30, 0, 250_000, tzinfo=UTC).timestamp() * 1000)
    calls, bytes_checked, committed = rows
    assert calls[0] == "meter/check" and calls[2:] == ("api.call", "unattributed", "unattributed", "", 5, 1,
                                                        "2026-04-20", at, at)
    assert bytes_checked[2:7] == ("update.bytes", "unattributed", "unattributed", "d1", 7)
    assert committed[:2] == ("meter/check", f"reservation-{rid}-1") and committed[6:9] == (30, 0, "2026-04-20")
    assert len({calls[1], bytes_checked[1], committed[1]}) == 3


async def test_expired_reservations_are_released_by_a_decision_on_their_metric(client):
    """The sweep runs when the batch's metrics hold reservations: a check on another metric leaves
    an expired one for later, a check on its own metric releases it before deciding."""
    app = client.app
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 900,
                                                       "ttl_s": 60}, headers=auth("gateway"))
    rid = (await resp.json())["id"]
    app[appkeys.CLOCK].set(datetime(2026, 4, 20, 12, 2, tzinfo=UTC))
    decisions = app[appkeys.DECIDER].ledger
    await check(client, signatory="x", metric="api_calls")
    assert await decisions.reserved(rid) == ("update_bytes", "unattributed")  # held on another metric: not swept
    allowed = await check(client, signatory="x", metric="update_bytes", amount=500)
    assert allowed["allowed"] and allowed["used"] == 500
    assert await decisions.reserved(rid) is None and await decisions.was_expired(rid)


async def test_counters_past_14_digits_stay_exact(redis_client, pool_id):
    """The batch writes each moved field's new value: it must be the exact integer, not Lua's
    14-digit rendering of it."""
    from meter.ledger.keys import Keys
    from meter.ledger.wire import DecisionArgs, MetricArgs

    keys = Keys(pool_id)
    await redis_client.set(keys.ledger_epoch, 1)
    await redis_client.sadd(keys.signatory_ids, "s1")
    counter = keys.flow("api_calls", "2026-04")
    big = 123_456_789_012_345
    await redis_client.hset(counter, mapping={"*": big, "s1": big})
    spec = MetricArgs("api_calls", True, False, counter, 3600, 2**53 - 1, "", True)
    rd = RedisDecisions(redis_client, keys, 3600, 2.0)
    [verdict] = await rd.decide([DecisionArgs(spec, "s1", "", "", 7, True, "")], 1_776_686_400_000)
    assert verdict.allowed and verdict.used == big + 7
    assert await redis_client.hmget(counter, ["*", "s1"]) == [b"123456789012352", b"123456789012352"]
