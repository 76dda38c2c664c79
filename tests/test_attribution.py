"""Events without a subject, attributed by the service (DESIGN §4): by host then dataset for
api.call (the same rule as /v1/authz), by publisher for dataset snapshots. Real Redis and chDB."""
import pytest

from tests.conftest import auth, make_config, wait_written
from tests.test_events_api import NDJSON, ndjson, register

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
PUBLISHERS = '[collectors.ods]\npublishers = { "Département du Loiret" = "loiret", "Ville fantôme" = "ghost" }\n'


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, PUBLISHERS)


def unnamed(i, type_, **data):
    return {"specversion": "1.0", "id": f"u-{i}", "source": "collector", "type": type_,
            "time": "2026-03-10T10:00:00Z", "data": data}


async def post(client, events):
    resp = await client.post("/v1/events", data=ndjson(events), headers=NDJSON)
    return resp.status, await resp.json()


async def by_signatory(client, metric):
    resp = await client.get("/v1/pool", params={"period": "2026-03"}, headers=auth("reader"))
    return (await resp.json())["metrics"][metric]["by_signatory"]


async def authz_signatory(client, host, uri):
    resp = await client.get("/v1/authz", headers={"X-Original-Host": host, "X-Original-URI": uri,
                                                  **auth("gateway")})
    return resp.headers["X-Meter-Signatory"]


async def test_api_calls_by_host_then_dataset_as_the_gateway_hook(client):
    await register(client, "loiret", hosts=["loiret.data.example"])
    await register(client, "cher")
    snapshot = {**unnamed(0, "dataset.records", dataset="bus", records=1, raw_bytes=1), "subject": "cher"}
    calls = [unnamed(1, "api.call", host="LOIRET.data.example", dataset="bus"),  # the host wins over the dataset
             unnamed(2, "api.call", host="other.example", dataset="bus"),  # no owner for the host: the dataset's
             unnamed(3, "api.call", host="other.example", dataset="nobody-s", count=4),
             unnamed(4, "api.call", host="other.example")]
    assert await post(client, [snapshot]) == (202, {"accepted": 1, "duplicates": 0})  # cher owns "bus"
    assert await post(client, calls) == (202, {"accepted": 4, "duplicates": 0})
    await wait_written(client)
    assert await by_signatory(client, "api_calls") == {"loiret": 1, "cher": 1, "unattributed": 5}
    path = "/api/explore/v2.1/catalog/datasets/bus/records"
    assert await authz_signatory(client, "loiret.data.example", path) == "loiret"
    assert await authz_signatory(client, "other.example", path) == "cher"
    unknown = "/api/explore/v2.1/catalog/datasets/x/records"
    assert await authz_signatory(client, "other.example", unknown) == "unattributed"


async def test_snapshots_by_publisher_table_then_exact_name(client):
    await register(client, "loiret")
    await register(client, "cher")  # named "Cher" by register()
    events = [unnamed(1, "dataset.records", dataset="a", records=10, raw_bytes=1, publisher="Département du Loiret"),
              unnamed(2, "dataset.records", dataset="b", records=20, raw_bytes=1, publisher="Cher"),
              unnamed(3, "dataset.records", dataset="c", records=40, raw_bytes=1, publisher="cher"),  # exact only
              unnamed(4, "dataset.records", dataset="d", records=80, raw_bytes=1, publisher="Inconnu"),
              unnamed(5, "dataset.records", dataset="e", records=160, raw_bytes=1, publisher="Ville fantôme")]
    assert await post(client, events) == (202, {"accepted": 5, "duplicates": 0})
    deleted = {**unnamed(6, "dataset.deleted", dataset="b", publisher="Cher"), "time": "2026-03-11T10:00:00Z"}
    assert (await post(client, [deleted]))[0] == 202
    await wait_written(client)
    # "Ville fantôme" maps to an id that is not registered: unattributed, as any unknown subject
    assert await by_signatory(client, "records") == {"loiret": 10, "unattributed": 280}  # cher: b deleted


@pytest.mark.parametrize("event, field", [
    (unnamed(1, "api.call", dataset="a"), "subject"),
    (unnamed(1, "api.call", publisher="Cher"), "subject"),
    (unnamed(1, "dataset.records", dataset="a", records=1, raw_bytes=1, host="x.example"), "subject"),
    (unnamed(1, "dataset.deleted", dataset="a", publisher=""), "data.publisher"),
    (unnamed(1, "api.call", host=7), "data.host"),
    (unnamed(1, "dataset.deleted", dataset="a", publisher="x" * 600), "data.publisher"),
])
async def test_an_event_with_neither_subject_nor_owner_field_is_refused(client, event, field):
    status, body = await post(client, [event])
    assert status == 400
    assert field in {d["field"] for d in body["error"]["details"]}, body
