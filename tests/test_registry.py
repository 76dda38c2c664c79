"""The signatory registry against the real Redis: records, host index, history rows, CSV import.

Each test has a pool of its own (``t-<hex>``) and deletes every key of it afterwards. History rows
are checked where the writer reads them, in the stream; one test (marked chdb, on the shared
``store`` fixture of conftest.py) follows them into ClickHouse and back out through ``history``.
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis.asyncio as redis
from aiohttp import web

from meter.config.settings import PoolConfig, PoolSection, Settings, TokenEntry
from meter.core.clock import FixedClock
from meter.core.errors import Conflict, InvalidRequest, NotFound, StoreUnavailable
from meter.http import appkeys
from meter.http import signatories as handlers
from meter.http.auth import TokenTable
from meter.http.middleware import middleware
from meter.ledger.client import connect
from meter.ledger.keys import Keys
from meter.ledger.registry_store import RegistryStore
from meter.ledger.stream import RedisStream
from meter.observability.telemetry import Telemetry
from meter.registry.cli import import_file
from meter.registry.csvimport import parse_csv, parse_csv_bytes
from meter.registry.service import Registry, active_on
from meter.sink.writer import StreamWriter
from meter.store.clickhouse import ClickHouseStore
from meter.store.rows import ch_time

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"
PARIS = ZoneInfo("Europe/Paris")
# 23:30 UTC on 10 March is already 11 March in Paris: "today" must be the pool's local date
NOW = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
TODAY = "2026-03-11"
REGION = "234500023"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "signatories.csv"


@pytest.fixture
async def client() -> AsyncIterator[redis.Redis]:
    c = connect(REDIS_URL)
    yield c
    await c.aclose()


@pytest.fixture
async def keys(client: redis.Redis) -> AsyncIterator[Keys]:
    keys = Keys(f"t-{uuid.uuid4().hex[:8]}")
    yield keys
    async for key in client.scan_iter(match=keys.pattern):
        await client.delete(key)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def registry(client: redis.Redis, keys: Keys, clock: FixedClock) -> Registry:
    return Registry(RegistryStore(client, keys), None, PARIS, clock)


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "Région Centre-Val de Loire", "kind": "region", **fields}


async def history_rows(client: redis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """The signatory_changes rows waiting in the stream, oldest first."""
    rows = []
    for _, fields in await client.xrange(keys.stream):
        assert fields[b"table"] == b"signatory_changes"
        assert fields[b"n"] == b"1"
        rows.append(orjson.loads(fields[b"rows"]))
    return rows


async def snapshot(client: redis.Redis, keys: Keys) -> dict[str, Any]:
    """Every key of the pool with its content: "nothing changed" compares two of these."""
    found = {}
    async for key in client.scan_iter(match=keys.pattern):
        kind = (await client.type(key)).decode()
        read = {"hash": client.hgetall, "set": client.smembers, "string": client.get, "stream": client.xrange}[kind]
        found[key] = await read(key)
    return found


# put, get, list


async def test_put_creates_with_defaults_then_updates(registry: Registry) -> None:
    record, created = await registry.put(REGION, body(), "admin:1")
    assert created
    assert record == {"id": REGION, "name": "Région Centre-Val de Loire", "kind": "region", "population": None,
                      "publication": "direct", "hosts": [], "emails": [], "joined_at": TODAY, "left_at": None,
                      "weight": 1, "active": True}
    record, created = await registry.put(REGION, body(population=2573180, weight=2.5), "admin:1")
    assert not created
    assert (record["population"], record["weight"]) == (2573180, 2.5)
    assert await registry.get(REGION) == record


async def test_an_update_keeps_joined_at_when_not_given(registry: Registry, clock: FixedClock) -> None:
    await registry.put(REGION, body(joined_at="2019-06-27"), "admin:1")
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    record, _ = await registry.put(REGION, body(population=1), "admin:1")
    assert record["joined_at"] == "2019-06-27"


async def test_get_of_an_unknown_id_is_not_found(registry: Registry) -> None:
    assert await registry.get_or_none("nobody") is None
    with pytest.raises(NotFound):
        await registry.get("nobody")


async def test_list_is_sorted_by_id_and_includes_left_ones(registry: Registry) -> None:
    for sid in ("loiret", REGION, "chartres"):
        await registry.put(sid, body(), "admin:1")
    await registry.delete("loiret", "admin:1")
    listed = await registry.list()
    assert [r["id"] for r in listed] == sorted(["loiret", REGION, "chartres"])
    assert [r["active"] for r in listed] == [True, True, False]


async def test_put_records_the_id_as_registered(registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put("loiret", body(kind="departement"), "admin:1")
    assert await client.sismember(keys.signatory_ids, "loiret")


async def test_a_record_from_get_can_be_put_back(registry: Registry) -> None:
    record, _ = await registry.put(REGION, body(hosts=["region.example.org"]), "admin:1")
    again, created = await registry.put(REGION, record, "admin:1")
    assert (again, created) == (record, False)


async def test_a_body_id_other_than_the_path_is_refused(registry: Registry) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await registry.put(REGION, body(id="loiret"), "admin:1")
    assert caught.value.details[0]["field"] == "id"


@pytest.mark.parametrize("sid", ["234500024", "unattributed", "Loiret", "123-456"])
async def test_put_refuses_an_invalid_id(registry: Registry, sid: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await registry.put(sid, body(), "admin:1")
    assert [d["field"] for d in caught.value.details] == ["id"]


async def test_put_lists_every_problem_of_a_body_and_changes_nothing(
        registry: Registry, client: redis.Redis, keys: Keys) -> None:
    bad = {"name": "", "kind": "town", "population": -1, "publication": "web", "hosts": ["not a host"],
           "emails": ["nobody"], "joined_at": "11/03/2026", "weight": 0, "colour": "blue"}
    with pytest.raises(InvalidRequest) as caught:
        await registry.put("loiret", bad, "admin:1")
    fields = {d["field"] for d in caught.value.details}
    assert fields == {"name", "kind", "population", "publication", "hosts", "emails", "joined_at", "weight", "colour"}
    assert await snapshot(client, keys) == {}


async def test_left_at_must_be_after_joined_at(registry: Registry) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await registry.put(REGION, body(joined_at="2026-01-01", left_at="2026-01-01"), "admin:1")
    assert caught.value.details == [{"field": "left_at", "reason": "must be after joined_at (2026-01-01)"}]


@pytest.mark.parametrize("value", [[], "x", {"name": "X"}])
async def test_a_body_without_name_or_kind_or_not_an_object_is_refused(registry: Registry, value: Any) -> None:
    with pytest.raises(InvalidRequest):
        await registry.put(REGION, value, "admin:1")


def test_active_runs_from_joined_at_to_left_at_exclusive() -> None:
    record = {"joined_at": "2026-03-01", "left_at": "2026-04-01"}
    days = ("2026-02-28", "2026-03-01", "2026-03-31", "2026-04-01")
    assert [active_on(record, date.fromisoformat(d)) for d in days] == [False, True, True, False]
    assert active_on({"joined_at": "2026-03-01", "left_at": None}, date(2030, 1, 1))


# history rows


async def test_each_change_appends_its_history_row_to_the_stream(
        registry: Registry, client: redis.Redis, keys: Keys) -> None:
    record, _ = await registry.put(REGION, body(), "admin:1a2b3c4d")
    await registry.delete(REGION, "ops")
    rows = await history_rows(client, keys)
    assert [(r["action"], r["changed_by"]) for r in rows] == [("put", "admin:1a2b3c4d"), ("delete", "ops")]
    first = rows[0]
    assert set(first) == {"pool", "id", "at", "action", "changed_by", "record"}
    assert (first["pool"], first["id"], first["at"]) == (keys.pool, REGION, ch_time(NOW))
    assert orjson.loads(first["record"]) == {k: v for k, v in record.items() if k != "active"}
    assert orjson.loads(rows[1]["record"])["left_at"] == TODAY
    assert int(await client.get(keys.backlog)) == 2


async def test_a_put_that_changes_nothing_writes_no_history(
        registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(), "admin:1")
    await registry.put(REGION, body(), "admin:1")
    assert len(await history_rows(client, keys)) == 1


# hosts


async def test_hosts_are_indexed_and_stale_ones_removed(registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(hosts=["Region.Example.org", "old.example.org"]), "admin:1")
    assert await client.hgetall(keys.hosts) == {b"region.example.org": REGION.encode(),
                                                b"old.example.org": REGION.encode()}
    await registry.put(REGION, body(hosts=["region.example.org", "new.example.org"]), "admin:1")
    assert await client.hgetall(keys.hosts) == {b"region.example.org": REGION.encode(),
                                                b"new.example.org": REGION.encode()}


async def test_a_host_of_another_signatory_is_a_conflict(registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(hosts=["data.example.org"]), "admin:1")
    before = await snapshot(client, keys)
    with pytest.raises(Conflict) as caught:
        await registry.put("loiret", body(kind="departement", hosts=["data.example.org"]), "admin:1")
    assert caught.value.details == [{"field": "hosts", "reason": f"'data.example.org' belongs to signatory '{REGION}'"}]
    assert await snapshot(client, keys) == before


async def test_a_host_is_free_once_its_owner_drops_it(registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(hosts=["data.example.org"]), "admin:1")
    await registry.put(REGION, body(), "admin:1")
    await registry.put("loiret", body(kind="departement", hosts=["data.example.org"]), "admin:1")
    assert await client.hget(keys.hosts, "data.example.org") == b"loiret"


# delete


async def test_delete_marks_left_today_and_keeps_the_record(
        registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(joined_at="2019-06-27", hosts=["region.example.org"]), "admin:1")
    record = await registry.delete(REGION, "admin:1")
    assert (record["left_at"], record["active"]) == (TODAY, False)
    assert await registry.get(REGION) == record
    assert await client.sismember(keys.signatory_ids, REGION)
    assert await client.hget(keys.hosts, "region.example.org") == REGION.encode()


async def test_delete_keeps_an_earlier_departure_and_advances_a_later_one(registry: Registry) -> None:
    await registry.put("loiret", body(joined_at="2019-01-01", left_at="2020-01-01"), "admin:1")
    await registry.put("cher", body(joined_at="2019-01-01", left_at="2027-01-01"), "admin:1")
    assert (await registry.delete("loiret", "admin:1"))["left_at"] == "2020-01-01"
    assert (await registry.delete("cher", "admin:1"))["left_at"] == TODAY


async def test_delete_of_one_not_yet_joined_means_it_never_joins(registry: Registry) -> None:
    await registry.put("indre", body(joined_at="2026-06-01"), "admin:1")
    record = await registry.delete("indre", "admin:1")
    assert (record["left_at"], record["active"]) == ("2026-06-01", False)


async def test_delete_of_an_unknown_id_is_not_found(registry: Registry, client: redis.Redis, keys: Keys) -> None:
    with pytest.raises(NotFound):
        await registry.delete("nobody", "admin:1")
    assert await snapshot(client, keys) == {}


# import


async def test_import_creates_and_updates_in_one_go(registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put("loiret", body(kind="departement"), "admin:1")
    rows = parse_csv_bytes(EXAMPLES.read_bytes())
    assert await registry.import_rows(rows, "admin:1") == {"created": 3, "updated": 1, "unchanged": 0}
    assert [r["id"] for r in await registry.list()] == [REGION, "chartres", "loiret", "tours-metropole"]
    assert [r["action"] for r in await history_rows(client, keys)] == ["put"] + ["import"] * 4
    assert await registry.import_rows(rows, "admin:1") == {"created": 0, "updated": 0, "unchanged": 4}


async def test_a_bad_import_changes_nothing_and_names_every_bad_row(
        registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(), "admin:1")
    before = await snapshot(client, keys)
    text = ("id,name,kind,population,hosts\n"
            "loiret,Loiret,departement,680434,loiret.example.org\n"
            "234500024,Bad SIREN,region,,\n"
            "chartres,,town,many,\n"
            "loiret,Again,departement,,loiret.example.org\n")
    with pytest.raises(InvalidRequest) as caught:
        await registry.import_rows(parse_csv(text), "admin:1")
    assert sorted((d["row"], d["field"]) for d in caught.value.details) == [
        (2, "id"), (3, "kind"), (3, "name"), (3, "population"), (4, "id")]
    assert await snapshot(client, keys) == before


async def test_an_import_claiming_another_signatorys_host_is_a_conflict(
        registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(hosts=["data.example.org"]), "admin:1")
    before = await snapshot(client, keys)
    rows = [{"id": "loiret", "name": "Loiret", "kind": "departement"},
            {"id": "cher", "name": "Cher", "kind": "departement", "hosts": ["data.example.org"]}]
    with pytest.raises(Conflict) as caught:
        await registry.import_rows(rows, "admin:1")
    assert caught.value.details[0]["row"] == 2
    assert await snapshot(client, keys) == before


async def test_an_import_may_move_a_host_between_its_rows(registry: Registry, client: redis.Redis, keys: Keys) -> None:
    await registry.put(REGION, body(hosts=["data.example.org"]), "admin:1")
    rows = [{"id": "loiret", "name": "Loiret", "kind": "departement", "hosts": ["data.example.org"]},
            {"id": REGION, "name": "Région", "kind": "region"}]
    await registry.import_rows(rows, "admin:1")
    assert await client.hgetall(keys.hosts) == {b"data.example.org": b"loiret"}


async def test_the_cli_imports_a_file(client: redis.Redis, keys: Keys) -> None:
    config = PoolConfig(pool=PoolSection(id=keys.pool))
    result = await import_file(Settings(redis_url=REDIS_URL), config, EXAMPLES)
    assert result["created"] == 4
    rows = await history_rows(client, keys)
    assert {(r["action"], r["changed_by"]) for r in rows} == {("import", "cli")}


async def test_the_cli_reports_a_missing_file(keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        await import_file(Settings(redis_url=REDIS_URL), PoolConfig(pool=PoolSection(id=keys.pool)),
                          tmp_path / "no.csv")


# history (read from ClickHouse)


class FakeStore:
    """What ``history`` asks of the store: the database name and rows of a query."""

    db = "meter"

    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows
        self.asked: list[tuple[str, dict]] = []

    async def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        self.asked.append((sql, params or {}))
        return self._rows


async def test_history_reads_clickhouse_rows(client: redis.Redis, keys: Keys, clock: FixedClock) -> None:
    store = FakeStore([("2026-03-10 23:30:00.000000", "put", "admin:1", '{"id": "loiret"}')])
    registry = Registry(RegistryStore(client, keys), store, PARIS, clock)  # type: ignore[arg-type]
    await registry.put("loiret", body(kind="departement"), "admin:1")
    assert await registry.history("loiret") == [
        {"at": "2026-03-10T23:30:00+00:00", "action": "put", "changed_by": "admin:1", "record": {"id": "loiret"}}]
    assert store.asked[0][1] == {"pool": keys.pool, "id": "loiret"}
    with pytest.raises(NotFound):
        await registry.history("nobody")


@pytest.mark.chdb
@pytest.mark.both_stores
async def test_history_reads_what_the_writer_copied_to_clickhouse(
        client: redis.Redis, keys: Keys, clock: FixedClock, store: ClickHouseStore) -> None:
    registry = Registry(RegistryStore(client, keys), store, PARIS, clock)
    record, _ = await registry.put(REGION, body(), "alice")
    clock.set(datetime(2026, 4, 2, 8, 0, tzinfo=UTC))
    await registry.delete(REGION, "bob")
    writer = StreamWriter(RedisStream(client, keys), store, Telemetry(), keys.pool, 100, 10, tz=UTC)
    await writer.stream.ensure_group()
    assert await writer.drain() == 2
    changes = await registry.history(REGION)
    assert [(c["at"], c["action"], c["changed_by"]) for c in changes] == [
        ("2026-03-10T23:30:00+00:00", "put", "alice"), ("2026-04-02T08:00:00+00:00", "delete", "bob")]
    assert changes[0]["record"] == {k: v for k, v in record.items() if k != "active"}
    assert changes[1]["record"]["left_at"] == "2026-04-02"


async def test_history_without_a_store_is_unavailable(registry: Registry) -> None:
    with pytest.raises(StoreUnavailable):
        await registry.history(REGION)


# CSV parsing (pure)


def test_csv_cells_become_body_fields() -> None:
    rows = parse_csv("id, Name ,kind,population,hosts,emails,weight,left_at\n"
                     '234500023,Région,region,2573180,"a.example.org; b.example.org  c.example.org",'
                     '"x@example.org;y@example.org",0.5,\n')
    assert rows == [{"id": "234500023", "name": "Région", "kind": "region", "population": 2573180,
                     "hosts": ["a.example.org", "b.example.org", "c.example.org"],
                     "emails": ["x@example.org", "y@example.org"], "weight": 0.5}]


def test_csv_skips_blank_rows_and_reads_a_byte_order_mark() -> None:
    rows = parse_csv_bytes("\ufeffid,name,kind\n\nloiret,Loiret,departement\n,,\n".encode())
    assert rows == [{"id": "loiret", "name": "Loiret", "kind": "departement"}]


def test_csv_keeps_non_numbers_as_text_for_validation_to_name() -> None:
    assert parse_csv("id,name,kind,population,weight\nx,X,other,many,heavy\n")[0] | {} == {
        "id": "x", "name": "X", "kind": "other", "population": "many", "weight": "heavy"}


@pytest.mark.parametrize(("header", "reason"), [
    ("id,name,kind,colour,size", "unknown column(s) 'colour', 'size'"),
    ("name,kind", "missing column(s) 'id'"),
    ("id,name", "missing column(s) 'kind'"),
    ("id,name,kind,name", "column(s) given twice: 'name'"),
    ("id;name;kind", "separated by commas"),
])
def test_csv_header_problems_are_named(header: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_csv(header + "\n")
    assert any(reason in d["reason"] for d in caught.value.details)


def test_csv_rows_must_match_the_header() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_csv("id,name,kind\nloiret,Loiret\nchartres,Chartres,commune\ncher,Cher,departement,extra\n")
    assert [(d["row"], d["reason"]) for d in caught.value.details] == [
        (1, "has 2 cells; the header has 3"), (3, "has 4 cells; the header has 3")]


@pytest.mark.parametrize("raw", [
    b"", "id,name,kind\nx,Ch\xe2teau,commune\n".encode("latin-1"), b'id,name,kind\nx,"Ch"x,commune\n',
    b'id,name,kind\nx,"unclosed,commune\n'])
def test_csv_that_cannot_be_read_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_csv_bytes(raw)


def test_the_example_file_is_valid() -> None:
    rows = parse_csv_bytes(EXAMPLES.read_bytes())
    assert [r["id"] for r in rows] == [REGION, "loiret", "tours-metropole", "chartres"]


# HTTP handlers


TOKENS = [TokenEntry(role="admin", token="admin-secret", name="alice"),
          TokenEntry(role="reader", token="reader-secret"),
          TokenEntry(role="reader", token="bound-secret", signatory="loiret")]


# meter.http.middleware stores the principal under a str key, which aiohttp >= 3.12 warns about


@pytest.fixture
async def http(aiohttp_client: Any, registry: Registry) -> Any:
    app = web.Application(middlewares=[middleware])
    app[appkeys.SETTINGS] = Settings()
    app[appkeys.TELEMETRY] = Telemetry()
    app[appkeys.TOKENS] = TokenTable(TOKENS)
    app[appkeys.REGISTRY] = registry
    app.router.add_routes([
        web.get("/v1/signatories", handlers.list_signatories),
        web.post("/v1/signatories/import", handlers.import_signatories),
        web.get("/v1/signatories/{id}", handlers.get_signatory),
        web.put("/v1/signatories/{id}", handlers.put_signatory),
        web.delete("/v1/signatories/{id}", handlers.delete_signatory),
        web.get("/v1/signatories/{id}/history", handlers.get_history),
    ])
    return await aiohttp_client(app)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_http_put_answers_201_then_200_and_records_the_token_label(
        http: Any, client: redis.Redis, keys: Keys) -> None:
    first = await http.put("/v1/signatories/loiret", json=body(kind="departement"), headers=auth("admin-secret"))
    assert first.status == 201
    again = await http.put("/v1/signatories/loiret", json=body(kind="departement", weight=2),
                           headers=auth("admin-secret"))
    assert again.status == 200 and (await again.json())["weight"] == 2
    assert {r["changed_by"] for r in await history_rows(client, keys)} == {"alice"}


async def test_http_write_errors(http: Any) -> None:
    admin = auth("admin-secret")
    bad_json = await http.put("/v1/signatories/loiret", data=b"{", headers=admin)
    assert (bad_json.status, (await bad_json.json())["error"]["type"]) == (400, "invalid_request")
    assert (await http.put("/v1/signatories/loiret", json=body(), headers=auth("reader-secret"))).status == 403
    assert (await http.delete("/v1/signatories/nobody", headers=admin)).status == 404
    csv_as_json = await http.post("/v1/signatories/import", data=b"id,name,kind\n", headers=admin)
    assert csv_as_json.status == 415


async def test_http_import_delete_and_read(http: Any) -> None:
    admin = auth("admin-secret")
    imported = await http.post("/v1/signatories/import", data=EXAMPLES.read_bytes(),
                               headers={**admin, "Content-Type": "text/csv; charset=utf-8"})
    assert (imported.status, (await imported.json())["created"]) == (200, 4)
    deleted = await http.delete("/v1/signatories/chartres", headers=admin)
    assert (deleted.status, (await deleted.json())["left_at"]) == (200, TODAY)
    listed = await (await http.get("/v1/signatories", headers=auth("reader-secret"))).json()
    assert len(listed["signatories"]) == 4


async def test_http_a_bound_reader_sees_only_its_signatory(http: Any) -> None:
    await http.post("/v1/signatories/import", data=EXAMPLES.read_bytes(),
                    headers={**auth("admin-secret"), "Content-Type": "text/csv"})
    bound = auth("bound-secret")
    listed = await (await http.get("/v1/signatories", headers=bound)).json()
    assert [r["id"] for r in listed["signatories"]] == ["loiret"]
    assert (await http.get("/v1/signatories/loiret", headers=bound)).status == 200
    assert (await http.get(f"/v1/signatories/{REGION}", headers=bound)).status == 403
    assert (await http.get("/v1/signatories/loiret/history", headers=bound)).status == 503  # no ClickHouse here
