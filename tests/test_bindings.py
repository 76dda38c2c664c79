"""Bound tokens act for their signatory only (DESIGN §4 "Limits and trust")."""
from __future__ import annotations

import pytest

from meter.config.settings import parse_pool_config
from meter.core.errors import ConfigError


def test_an_admin_token_cannot_be_bound_and_the_error_names_its_position():
    text = ('[[tokens]]\nrole = "reader"\ntoken = "reader-secret"\nsignatory = "loiret"\n'
            '[[tokens]]\nrole = "admin"\ntoken = "admin-secret"\nsignatory = "loiret"\n')
    with pytest.raises(ConfigError, match=r"tokens\.1: Value error, an admin token cannot be bound"):
        parse_pool_config(text)


# --- bound gateways: check, reservations and the gateway hook, for their signatory only ---

BOUND_GATEWAY = {"Authorization": "Bearer bound-gateway-secret"}
LOIRET = {"name": "Loiret", "kind": "departement", "hosts": ["loiret.data.example"], "joined_at": "2020-01-01"}
CHER = {"name": "Cher", "kind": "departement", "hosts": ["cher.data.example"], "joined_at": "2020-01-01"}
BOUND = ('[[tokens]]\nrole = "gateway"\ntoken = "bound-gateway-secret"\nsignatory = "loiret"\n'
         '[[tokens]]\nrole = "producer"\ntoken = "loiret-producer-secret"\nsignatory = "loiret"\n'
         '[[tokens]]\nrole = "producer"\ntoken = "cher-producer-secret"\nsignatory = "cher"\n')
LOIRET_PRODUCER = {"Authorization": "Bearer loiret-producer-secret"}
CHER_PRODUCER = {"Authorization": "Bearer cher-producer-secret"}


@pytest.fixture
def config(pool_id):
    from tests.conftest import make_config

    return make_config(pool_id, BOUND)


async def _registered(client) -> None:
    from tests.conftest import auth

    for sid, body in (("loiret", LOIRET), ("cher", CHER)):
        resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
        assert resp.status in (200, 201), await resp.text()


async def _used(client, sid: str) -> int:
    """The signatory's API calls this month (2026-04 by the test clock), as the ledger counts them."""
    from meter.http import appkeys

    ledger = client.app[appkeys.LEDGER]
    return int(await ledger.client.hget(ledger.keys.flow("api_calls", "2026-04"), sid) or 0)


@pytest.mark.redis
@pytest.mark.chdb
async def test_a_bound_gateway_checks_and_consumes_for_its_signatory_only(client):
    await _registered(client)
    ok = await client.post("/v1/check", json={"signatory": "loiret", "metric": "api_calls"}, headers=BOUND_GATEWAY)
    assert ok.status == 200
    batch = [{"signatory": "loiret", "metric": "api_calls"}, {"signatory": "cher", "metric": "api_calls"}]
    refused = await client.post("/v1/check", json=batch, headers=BOUND_GATEWAY)
    assert refused.status == 403
    assert (await refused.json())["error"]["details"] == [
        {"index": 1, "field": "signatory", "reason": "this token may only decide for 'loiret'"}]
    assert await _used(client, "loiret") == 1 and await _used(client, "cher") == 0  # nothing of the batch


@pytest.mark.redis
@pytest.mark.chdb
async def test_a_bound_gateway_reserves_commits_and_releases_its_signatorys_only(client):
    from tests.conftest import auth

    await _registered(client)
    ask = {"metric": "update_bytes", "amount": 10}
    other = await client.post("/v1/reservations", json={**ask, "signatory": "cher"}, headers=BOUND_GATEWAY)
    assert other.status == 403
    held = await client.post("/v1/reservations", json={**ask, "signatory": "cher"}, headers=auth("gateway"))
    rid = (await held.json())["id"]
    for method, path, body in (("POST", f"/v1/reservations/{rid}/commit", {"amount": 5}),
                               ("DELETE", f"/v1/reservations/{rid}", None)):
        resp = await client.request(method, path, json=body, headers=BOUND_GATEWAY)
        assert resp.status == 403, (method, await resp.text())
    own = await client.post("/v1/reservations", json={**ask, "signatory": "loiret"}, headers=BOUND_GATEWAY)
    assert own.status == 201
    resp = await client.post(f"/v1/reservations/{(await own.json())['id']}/commit", json={"amount": 4},
                             headers=BOUND_GATEWAY)
    assert resp.status == 200 and (await resp.json())["committed"] == 4
    assert (await client.delete(f"/v1/reservations/{rid}", headers=auth("gateway"))).status == 200


@pytest.mark.redis
@pytest.mark.chdb
async def test_a_bound_gateways_hook_denies_another_signatorys_request_with_403_and_counts_nothing(client):
    await _registered(client)
    headers = {"X-Meter-Token": "bound-gateway-secret", "X-Original-URI": "/"}
    own = await client.get("/v1/authz", headers={**headers, "X-Original-Host": "loiret.data.example"})
    assert own.status == 200 and own.headers["X-Meter-Signatory"] == "loiret"
    for host in ("cher.data.example", "nobody.example"):
        other = await client.get("/v1/authz", headers={**headers, "X-Original-Host": host})
        assert other.status == 403 and await other.read() == b""
    assert await _used(client, "cher") == 0 and await _used(client, "loiret") == 1


# --- bound producers: stock ownership and dedup namespaces ---

def snapshot(i, sid, dataset="arrets", records=100, type_="dataset.records", time="2026-04-20T10:00:00Z", **data):
    body = {"dataset": dataset, "records": records, "raw_bytes": records * 10, **data}
    if type_ == "dataset.deleted":
        body = {"dataset": dataset}
    if type_ == "dataset.metadata":
        body = {"dataset": dataset, "metas": {"default": {"title": "Arrêts"}}}
    return {"specversion": "1.0", "id": f"{sid}-{i}", "source": "backoffice", "type": type_, "time": time,
            "subject": sid, "data": body}


async def _stock(client, sid: str, metric: str = "records") -> int:
    from meter.http import appkeys

    ledger = client.app[appkeys.LEDGER]
    return int(await ledger.client.hget(ledger.keys.stock(metric), sid) or 0)


@pytest.mark.redis
@pytest.mark.chdb
@pytest.mark.parametrize("attack", ["dataset.records", "dataset.deleted", "dataset.metadata"])
async def test_a_bound_producer_cannot_snapshot_delete_or_describe_another_signatorys_dataset(client, attack):
    await _registered(client)
    assert (await client.post("/v1/events", json=[snapshot(1, "cher")], headers=CHER_PRODUCER)).status == 202
    batch = [snapshot(1, "loiret", dataset="own"), snapshot(2, "loiret", type_=attack, records=0)]
    resp = await client.post("/v1/events", json=batch, headers=LOIRET_PRODUCER)
    assert resp.status == 409
    body = (await resp.json())["error"]
    assert body["type"] == "not_owner" and body["details"][0]["index"] == 1
    assert await _stock(client, "cher") == 100 and await _stock(client, "loiret") == 0  # nothing of the batch


@pytest.mark.redis
@pytest.mark.chdb
async def test_an_unbound_collector_may_transfer_a_dataset_and_the_new_owner_then_holds_it(client, caplog):
    import logging

    from meter.http import appkeys
    from tests.conftest import auth

    caplog.set_level(logging.INFO)
    await _registered(client)
    assert (await client.post("/v1/events", json=[snapshot(1, "cher")], headers=CHER_PRODUCER)).status == 202
    moved = snapshot(9, "loiret", records=70, time="2026-04-20T11:00:00Z")
    assert (await client.post("/v1/events", json=[moved], headers=auth("producer"))).status == 202
    assert await _stock(client, "cher") == 0 and await _stock(client, "loiret") == 70
    assert client.app[appkeys.TELEMETRY].stock_transfers._value.get() == 1  # the move is recorded
    [record] = [r for r in caplog.records if r.getMessage() == "stock transferred"]
    assert (record.item, getattr(record, "from"), record.to) == ("ds:arrets", "cher", "loiret")
    again = snapshot(3, "cher", records=5, time="2026-04-20T11:30:00Z")
    assert (await client.post("/v1/events", json=[again], headers=CHER_PRODUCER)).status == 409
    own = snapshot(4, "loiret", records=80, time="2026-04-20T11:30:00Z")
    assert (await client.post("/v1/events", json=[own], headers=LOIRET_PRODUCER)).status == 202
    assert await _stock(client, "loiret") == 80


@pytest.mark.redis
@pytest.mark.chdb
async def test_a_bound_producer_cannot_make_a_collectors_event_a_duplicate(client):
    from tests.conftest import auth

    await _registered(client)
    # the catalogue collector's ids are predictable: a bound producer sends them first
    squat = {**snapshot(1, "loiret", records=0, type_="dataset.deleted"), "id": "arrets@deleted-1", "source": "ods"}
    resp = await client.post("/v1/events", json=[squat], headers=LOIRET_PRODUCER)
    assert resp.status == 202 and (await resp.json()) == {"accepted": 1, "duplicates": 0}
    real = {**snapshot(1, "loiret", records=0, type_="dataset.deleted"), "id": "arrets@deleted-1", "source": "ods"}
    resp = await client.post("/v1/events", json=[real], headers=auth("producer"))
    assert (await resp.json()) == {"accepted": 1, "duplicates": 0}  # counted, not a duplicate
    resp = await client.post("/v1/events", json=[squat], headers=LOIRET_PRODUCER)
    assert (await resp.json()) == {"accepted": 0, "duplicates": 1}  # its own namespace still dedups


@pytest.mark.redis
@pytest.mark.chdb
async def test_a_rebuild_keeps_each_events_dedup_namespace(client, redis_client, pool_id):
    from tests.conftest import auth, delete_pool_keys, wait_written

    await _registered(client)
    squat = {**snapshot(1, "loiret", records=3), "id": "same-id", "source": "ods"}
    assert (await client.post("/v1/events", json=[squat], headers=LOIRET_PRODUCER)).status == 202
    await wait_written(client)
    await delete_pool_keys(redis_client, pool_id)  # Redis lost everything of this pool
    resp = await client.post("/v1/events", json=[squat], headers=LOIRET_PRODUCER)  # rebuilds first
    assert (await resp.json()) == {"accepted": 0, "duplicates": 1}
    real = {**snapshot(1, "loiret", records=4, time="2026-04-20T11:00:00Z"), "id": "same-id", "source": "ods"}
    resp = await client.post("/v1/events", json=[real], headers=auth("producer"))
    assert (await resp.json()) == {"accepted": 1, "duplicates": 0}
