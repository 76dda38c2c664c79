"""The ClickHouse HTTP interface as clickhouse-connect drives it, against ``clickhouse_url``: the test-only
stand-in (tests/clickhouse_http.py) in CI, or a real server named by METER_TEST_CLICKHOUSE_URL. Every
assertion holds for a real server too; this is how the stand-in is held to the client's behaviour.
"""
from __future__ import annotations

import asyncio
import base64
import gzip
import uuid
from datetime import UTC, date, datetime
from urllib.parse import urlparse

import aiohttp
import clickhouse_connect
import lz4.frame
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from meter.core.errors import StoreQueryError, StoreUnavailable
from meter.store.clickhouse import ClickHouseStore
from tests.clickhouse_http import choose_encoding, decompress, free_port


@pytest.fixture
def server(clickhouse_url):
    parts = urlparse(clickhouse_url)
    return {"host": parts.hostname, "port": parts.port or 8123, "username": parts.username or "default",
            "password": parts.password or "", "base": f"http://{parts.hostname}:{parts.port or 8123}/"}


@pytest.fixture
async def connect(server):
    """Opens clickhouse-connect async clients as meter does (closed at the end)."""
    clients = []

    async def open_client(**options):
        kwargs = {k: server[k] for k in ("host", "port", "username", "password")} | options
        client = await clickhouse_connect.get_async_client(**kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
async def database(connect):
    client = await connect()
    name = f"t_{uuid.uuid4().hex[:12]}"
    await client.command(f"CREATE DATABASE {name}")
    await client.command(f"CREATE TABLE {name}.t (a UInt32, s LowCardinality(String), at DateTime64(6, 'UTC')) "
                         "ENGINE = MergeTree ORDER BY a SETTINGS non_replicated_deduplication_window = 100")
    yield name
    await client.command(f"DROP DATABASE IF EXISTS {name}")


async def raw(server, method="POST", body=b"", headers=None, **params):
    """One HTTP request as the client would send it, for what the client hides (status, headers)."""
    token = base64.b64encode(f"{server['username']}:{server['password']}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", **(headers or {})}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.request(method, server["base"], params=params, data=body, headers=headers) as answer:
            return answer.status, dict(answer.headers), await answer.read()


async def test_connect_reads_the_version_the_timezone_and_the_settings(connect):
    client = await connect()
    assert client.server_version and client.server_version[0].isdigit()
    assert client.server_tz is not None
    # chosen from system.settings: only a server that listed the setting as writable gets it
    assert client.get_client_setting("date_time_input_format") == "best_effort"
    assert await client.ping()


@pytest.mark.parametrize("compress", [False, True, "lz4", "zstd", "gzip"])
async def test_query_with_server_side_parameters_round_trips(connect, compress):
    client = await connect(compress=compress)
    text = "it's a \\ back\tslash\n"
    result = await client.query(
        "SELECT {s:String} AS s, {d:Date} AS d, {t:DateTime64(3, 'UTC')} AS t, {n:UInt64} AS n, "
        "{xs:Array(String)} AS xs, {none:Nullable(String)} AS none",
        parameters={"s": text, "d": date(2026, 2, 28), "t": datetime(2026, 3, 29, 1, 30, 0, 250000, tzinfo=UTC),
                    "n": 2**63 + 5, "xs": ["a'b", "c"], "none": None})
    assert result.column_names == ("s", "d", "t", "n", "xs", "none")
    s, d, t, n, xs, none = result.result_rows[0]
    assert (s, d, n, xs, none) == (text, date(2026, 2, 28), 2**63 + 5, ["a'b", "c"], None)
    assert t.replace(tzinfo=UTC) == datetime(2026, 3, 29, 1, 30, 0, 250000, tzinfo=UTC)


@pytest.mark.parametrize("accept, chosen", [("zstd", "zstd"), ("lz4", "lz4"), ("gzip", "gzip"), ("deflate", "deflate"),
                                            ("lz4,zstd,gzip,deflate", "zstd"), ("gzip,lz4", "lz4")])
async def test_responses_are_compressed_as_negotiated(server, accept, chosen):
    status, headers, body = await raw(server, body=b"SELECT number FROM numbers(1000) FORMAT TSV",
                                      headers={"Accept-Encoding": accept}, enable_http_compression="1")
    assert status == 200 and headers["Content-Encoding"] == chosen
    assert decompress(body, chosen) == b"".join(b"%d\n" % i for i in range(1000))
    assert choose_encoding(accept) == chosen


async def test_without_enable_http_compression_the_answer_is_plain(server):
    status, headers, body = await raw(server, body=b"SELECT 42", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and "Content-Encoding" not in headers and body == b"42\n"


@pytest.mark.parametrize("compression", [None, "gzip", "lz4", "zstd"])
async def test_raw_insert_with_and_without_compression(connect, database, compression):
    client = await connect()
    block = b'{"a":1,"s":"x","at":"2026-03-10 10:00:00.5"}\n{"a":2,"s":"y","at":"2026-03-10 10:00:01"}'
    if compression == "gzip":
        block = gzip.compress(block)
    elif compression == "lz4":
        block = lz4.frame.compress(block)
    elif compression == "zstd":
        from backports import zstd
        block = zstd.compress(block)
    await client.raw_insert(f"{database}.t", insert_block=block, fmt="JSONEachRow", compression=compression)
    rows = (await client.query(f"SELECT a, s, at FROM {database}.t ORDER BY a")).result_rows
    assert [(a, s) for a, s, _ in rows] == [(1, "x"), (2, "y")]
    assert rows[0][2].replace(tzinfo=UTC) == datetime(2026, 3, 10, 10, 0, 0, 500000, tzinfo=UTC)


async def test_the_deduplication_token_in_settings_inserts_once(connect, database):
    client = await connect()
    block = b'{"a":1,"s":"x","at":"2026-03-10 10:00:00"}'
    for token in ("first", "first", "second"):
        await client.raw_insert(f"{database}.t", insert_block=block, fmt="JSONEachRow",
                                settings={"insert_deduplication_token": token})
    assert await client.command(f"SELECT count() FROM {database}.t") == 2  # the same token twice: once


@pytest.mark.parametrize("compress", [False, "lz4", "zstd", "gzip"])
async def test_insert_of_rows_in_native_format(connect, database, compress):
    client = await connect(compress=compress)
    at = datetime(2026, 3, 10, 10, 0, 0, 123456, tzinfo=UTC)
    summary = await client.insert(f"{database}.t", [[7, "native", at], [8, "rows", at]], column_names=["a", "s", "at"])
    assert summary.written_rows == 2
    rows = (await client.query(f"SELECT a, s, at FROM {database}.t ORDER BY a")).result_rows
    assert [(a, s, t.replace(tzinfo=UTC)) for a, s, t in rows] == [(7, "native", at), (8, "rows", at)]


async def test_settings_in_the_query_string_apply_to_that_request_only(connect):
    client = await connect()
    assert (await client.query("SELECT getSetting('max_block_size')", settings={"max_block_size": 1234})
            ).result_rows == [(1234,)]
    default = (await client.query("SELECT getSetting('max_block_size')")).result_rows[0][0]
    assert default != 1234


async def test_command_answers_as_the_client_parses_them(connect, database):
    client = await connect()
    assert await client.command("SELECT 40 + 2") == 42
    assert await client.command("SELECT 'a', 'b'") == ["a", "b"]
    assert await client.command(f"SELECT a FROM {database}.t") == ""  # a result, empty
    summary = await client.command(f"ALTER TABLE {database}.t ADD COLUMN IF NOT EXISTS extra UInt8 DEFAULT 0")
    assert not isinstance(summary, str | int | list)  # a statement without a result gives its summary


async def test_a_columns_only_query_reads_the_names_and_types(connect, database):
    client = await connect()
    result = await client.query(f"SELECT a, s FROM {database}.t LIMIT 0")
    assert result.column_names == ("a", "s") and result.result_rows == []


async def test_form_encoded_parameters(connect):
    client = await connect(form_encode_query_params=True)
    result = await client.query("SELECT {s:String}, {n:Int32}", parameters={"s": "form", "n": -3})
    assert result.result_rows == [("form", -3)]


async def test_errors_carry_the_code_and_the_name(connect, server):
    client = await connect()
    with pytest.raises(DatabaseError) as unknown:
        await client.query("SELECT * FROM no_such_database.no_such_table")
    assert unknown.value.code == 81 and "UNKNOWN_DATABASE" in str(unknown.value)
    with pytest.raises(DatabaseError) as syntax:
        await client.command("SELEC 1")
    assert syntax.value.code == 62 and "SYNTAX_ERROR" in str(syntax.value)
    status, headers, body = await raw(server, body=b"SELEC 1")
    assert status == 400 and headers["X-ClickHouse-Exception-Code"] == "62"
    assert body.startswith(b"Code: 62. DB::Exception: ") and b"(SYNTAX_ERROR)" in body
    status, headers, _ = await raw(server, body=b"SELECT * FROM system.no_such_table")
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "60"
    status, headers, _ = await raw(server, body=b"SELECT 1", no_such_setting_at_all="1")
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "115"


async def test_a_get_is_read_only(server):
    status, headers, body = await raw(server, "GET", query="CREATE DATABASE never_made")
    assert status == 400 and headers["X-ClickHouse-Exception-Code"] == "164"
    status, _, body = await raw(server, "GET", query="SELECT 1")
    assert (status, body) == (200, b"1\n")


async def test_a_wrong_password_is_refused(connect, server):
    with pytest.raises((DatabaseError, OperationalError)) as refused:
        await connect(password=server["password"] + "-wrong")
    assert "516" in str(refused.value) and "AUTHENTICATION_FAILED" in str(refused.value)


async def test_a_session_serves_one_request_at_a_time(server):
    session = uuid.uuid4().hex
    slow = asyncio.create_task(raw(server, body=b"SELECT sleepEachRow(0.5) FROM numbers(4)", session_id=session))
    await asyncio.sleep(0.3)  # it reaches the server first
    codes = set()
    while not slow.done():  # the same session again while the slow statement runs
        status, headers, _ = await raw(server, body=b"SELECT 1", session_id=session)
        codes.add(headers.get("X-ClickHouse-Exception-Code") if status != 200 else "200")
        await asyncio.sleep(0.05)
    assert (await slow)[0] == 200
    assert "373" in codes  # SESSION_IS_LOCKED
    status, headers, _ = await raw(server, body=b"SELECT 1", session_id=uuid.uuid4().hex, session_check="1")
    assert status != 200 and headers["X-ClickHouse-Exception-Code"] == "372"  # SESSION_NOT_FOUND


async def test_answers_carry_the_query_id_and_a_summary(server):
    status, headers, _ = await raw(server, body=b"SELECT number FROM numbers(10) FORMAT Native", query_id="q-1")
    assert status == 200 and headers["X-ClickHouse-Query-Id"] == "q-1"
    assert headers["X-ClickHouse-Format"] == "Native"
    assert '"read_rows":"10"' in headers["X-ClickHouse-Summary"]


# --- meter's own seam over it: ServerBackend's translation of what the client raises ---

async def test_server_backend_translates_rejections_and_absence(clickhouse_url, tmp_path, server_store):
    with pytest.raises(StoreQueryError):
        await server_store.rows("SELECT * FROM no_such_database.no_such_table")
    assert await server_store.ping()
    nowhere = await ClickHouseStore.open(f"http://default:x@127.0.0.1:{free_port()}", tmp_path, "t_none")
    try:  # opened without a connection: the calls say it is away
        with pytest.raises(StoreUnavailable):
            await nowhere.rows("SELECT 1")
        assert not await nowhere.ping() and not nowhere.migrated
    finally:
        await nowhere.close()


async def test_server_backend_takes_concurrent_calls(server_store):
    results = await asyncio.gather(*[server_store.rows("SELECT {n:UInt8}", {"n": n}) for n in range(8)])
    assert results == [[(n,)] for n in range(8)]
