"""The ledger rebuild writes what the scripts wrote (meter/ledger/restore.py): events and checks go
through ingest.lua and decide.lua, the writer copies them to ClickHouse, Redis is snapshotted and
the pool's keys deleted, the rebuild runs, and every key the rebuild restores is compared with its
snapshot: value, and lifetime within a few seconds. A check's stored answer is the one difference
by design: history keeps its fingerprint and outcome, not the answer (``fingerprint\\x1fR``)."""
from typing import Any

import pytest

from meter.http import appkeys
from tests.conftest import auth, delete_pool_keys, make_config, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
RESTORED = ("seen:", "flow:", "stock:", "ds:", "obj:", "index:", "signatories", "signatory_ids", "hosts")


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, "[caps]\napi_calls = 1000\nupdate_bytes = 100000\n")


def event(i, type_, subject="loiret", source="gw", **data):
    return {"specversion": "1.0", "id": f"e{i}", "source": source, "type": type_,
            "time": "2026-04-20T10:00:00Z", "subject": subject, "data": data}


async def snapshot(redis_client, prefix: str) -> dict[str, tuple[Any, int]]:
    """Every key the rebuild restores: name after the prefix -> (value, ttl in seconds or -1)."""
    found = {}
    async for raw in redis_client.scan_iter(match=prefix + "*", count=1000):
        name = raw.decode()[len(prefix):]
        if not name.startswith(RESTORED):
            continue
        kind = (await redis_client.type(raw)).decode()
        value = {"hash": redis_client.hgetall, "set": redis_client.smembers, "string": redis_client.get}[kind]
        found[name] = (await value(raw), await redis_client.ttl(raw))
    return found


async def test_the_rebuild_restores_exactly_what_ingest_and_decide_wrote(client, redis_client, pool_id):
    for sid, hosts in (("loiret", ["data.loiret.example"]), ("cher", [])):
        body = {"name": sid, "kind": "departement", "joined_at": "2020-01-01", "hosts": hosts}
        assert (await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))).status == 201
    events = [event(1, "api.call", count=3), event(2, "api.call", subject="cher", count=2),
              event(3, "api.call", check_id="call-b"),
              event(4, "update.bytes", bytes=700, kind="data"),
              event(5, "dataset.records", dataset="adresses", records=120, raw_bytes=4000),
              event(6, "dataset.records", subject="cher", dataset="routes", records=30, raw_bytes=900),
              event(7, "content.bytes", object="logo.png", bytes=5000),
              event(8, "api.call", source="other", count=1),
              event(9, "dataset.records", dataset="vide", records=0, raw_bytes=0)]  # at 0: expires
    resp = await client.post("/v1/events", json=events, headers=auth("producer"))
    assert resp.status == 202 and (await resp.json())["accepted"] == 9
    for ask in ({"signatory": "loiret", "metric": "api_calls", "amount": 2, "id": "call-a"},
                {"signatory": "loiret", "metric": "api_calls", "id": "call-c"},
                {"signatory": "cher", "metric": "update_bytes", "amount": 50, "id": "call-d"},
                {"signatory": "cher", "metric": "api_calls"}):
        resp = await client.post("/v1/check", json=ask, headers=auth("gateway"))
        assert resp.status == 200 and (await resp.json())["allowed"], await resp.text()
    await wait_written(client)
    prefix = client.app[appkeys.LEDGER].keys.prefix
    before = await snapshot(redis_client, prefix)
    assert sum(name.startswith("seen:") for name in before) == 9 + 1 + 3  # events, the alias, checks with an id
    assert before["index:ds"][0] == {(prefix + "ds:adresses").encode(), (prefix + "ds:routes").encode()}
    assert 0 < before["ds:vide"][1] <= client.app[appkeys.SETTINGS].dedup_window_s

    await delete_pool_keys(redis_client, pool_id)  # Redis lost the pool
    assert await client.app[appkeys.REBUILDER].ensure()
    after = await snapshot(redis_client, prefix)

    assert sorted(after) == sorted(before), (set(before) - set(after), set(after) - set(before))
    answers = 0
    for name, (value, ttl) in before.items():
        restored, restored_ttl = after[name]
        if isinstance(value, bytes) and value != b"1":  # a check's stored answer: fingerprint, then the answer
            fingerprint, _, answer = value.partition(b"\x1f")
            assert restored == fingerprint + b"\x1fR" and answer, name
            answers += 1
        else:
            assert restored == value, name
        assert abs(restored_ttl - ttl) <= 5, (name, ttl, restored_ttl)
    assert answers == 3
