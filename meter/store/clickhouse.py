"""ClickHouseStore: the one seam to ClickHouse, embedded (chDB) or a server (clickhouse-connect).

Both backends take the same SQL with ``{name:Type}`` query parameters (values are never
formatted into SQL) and return rows as tuples. Driver errors are translated here:
connection trouble becomes ``StoreUnavailable`` (503, retried by the writer), a rejected statement
``StoreQueryError``.
"""
from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import orjson

from meter.core.errors import StoreQueryError, StoreUnavailable

_TOKEN = re.compile(r"^[A-Za-z0-9:_.\-]{1,200}$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


class Backend(Protocol):
    async def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]: ...
    async def command(self, sql: str, params: dict[str, Any]) -> None: ...
    async def insert_json(self, table: str, payload: bytes, token: str) -> None: ...
    async def close(self) -> None: ...


class ChdbBackend:
    """chDB in this process. One database path per process (chDB's rule), one thread for every
    call: chDB releases the GIL but blocks, so calls must stay off the event loop."""

    def __init__(self, path: Path) -> None:
        from chdb import session  # imported here: ~0.5 s and ~250 MB, only when chosen

        path.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
        self._session = session.Session(str(path))
        self._session.query("SET output_format_json_quote_64bit_integers=0")

    async def _run(self, sql: str | bytes, fmt: str, params: dict[str, Any] | None) -> bytes:
        def call() -> bytes:
            result = self._session.query(sql, fmt, params=params or None)
            return result.bytes() if result is not None else b""

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except RuntimeError as exc:  # chDB raises its errors as RuntimeError subclasses
            raise StoreQueryError(f"ClickHouse rejected the statement: {exc}") from exc

    async def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        out = await self._run(sql, "JSONCompactEachRow", params)
        return [tuple(orjson.loads(line)) for line in out.splitlines() if line]

    async def command(self, sql: str, params: dict[str, Any]) -> None:
        await self._run(sql, "CSV", params)

    async def insert_json(self, table: str, payload: bytes, token: str) -> None:
        sql = (f"INSERT INTO {table} SETTINGS insert_deduplication_token='{token}', "
               f"deduplicate_blocks_in_dependent_materialized_views=1 FORMAT JSONEachRow\n")
        await self._run(sql.encode() + payload, "CSV", None)  # bytes: no decode of a large payload

    async def close(self) -> None:
        def shut() -> None:
            self._session.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)


class ServerBackend:
    """A ClickHouse server through clickhouse-connect's async client (production).

    Connects lazily, at the first call, and again at the next call after a failed attempt: the
    service starts and goes on through Redis while the server is away (DESIGN §7).
    """

    def __init__(self, url: str, database: str | None = None) -> None:
        self._url = url
        self._database = database
        self._client: Any = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str, database: str | None = None) -> ServerBackend:
        """A backend already connected (``StoreUnavailable`` if the server does not answer)."""
        backend = cls(url, database)
        await backend._connected()
        return backend

    async def _connected(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await self._open()
        return self._client

    async def _open(self) -> Any:
        import clickhouse_connect

        parts = urlparse(self._url)
        try:
            return await clickhouse_connect.get_async_client(
                host=parts.hostname or "localhost", port=parts.port or 8123,
                username=parts.username or "default", password=parts.password or "",
                secure=parts.scheme == "https", connect_timeout=5, send_receive_timeout=30,
                database=self._database,
            )
        except Exception as exc:  # clickhouse-connect raises OperationalError and friends
            raise StoreUnavailable(f"cannot reach ClickHouse at {parts.hostname}:{parts.port or 8123}: {exc}") from exc

    async def _guard(self, coro: Any) -> Any:
        from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

        try:
            return await coro
        except OperationalError as exc:
            raise StoreUnavailable(f"ClickHouse is unavailable: {exc}") from exc
        except DatabaseError as exc:
            raise StoreQueryError(f"ClickHouse rejected the statement: {exc}") from exc

    async def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        client = await self._connected()
        result = await self._guard(client.query(sql, parameters=params))
        return [tuple(r) for r in result.result_rows]

    async def command(self, sql: str, params: dict[str, Any]) -> None:
        client = await self._connected()
        await self._guard(client.command(sql, parameters=params or None))

    async def insert_json(self, table: str, payload: bytes, token: str) -> None:
        client = await self._connected()
        settings = {"insert_deduplication_token": token, "deduplicate_blocks_in_dependent_materialized_views": 1}
        await self._guard(client.raw_insert(table, insert_block=payload, settings=settings, fmt="JSONEachRow"))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


class ClickHouseStore:
    """The schema's database on one backend. Nothing reads or writes before the migrations have
    run: the first call migrates (once), so a server that was away at start-up is migrated when
    it first answers, and until then every call raises ``StoreUnavailable``."""

    def __init__(self, backend: Backend, database: str) -> None:
        self.backend = backend
        self.db = database
        self.migrated = False
        self._migrating = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, data_dir: Path, database: str) -> ClickHouseStore:
        """chDB is opened now; a server is reached at the first call (it may be away at start-up)."""
        if url:
            backend: Backend = ServerBackend(url)
        else:
            backend = await asyncio.to_thread(ChdbBackend, data_dir / "chdb")
        return cls(backend, database)

    def table(self, name: str) -> str:
        return f"{self.db}.{name}"

    async def _ready(self) -> None:
        if not self.migrated:
            await self.migrate()

    async def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        await self._ready()
        return await self.backend.rows(sql, params or {})

    async def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        await self._ready()
        await self.backend.command(sql, params or {})

    async def insert_json(self, table: str, payload: bytes, token: str) -> None:
        """Insert JSONEachRow ``payload``; the same ``token`` twice inserts once (crash replays)."""
        if not _TOKEN.fullmatch(token) or not _TABLE.fullmatch(table):
            raise ValueError(f"bad table or deduplication token: {table!r} {token!r}")
        await self._ready()
        await self.backend.insert_json(self.table(table), payload, token)

    async def ping(self) -> bool:
        """Reachable and migrated (migrating now if it was not)."""
        try:
            return (await self.rows("SELECT 1")) == [(1,)]
        except (StoreUnavailable, StoreQueryError):
            return False

    async def migrate(self) -> list[str]:
        """Apply the numbered migrations not yet applied; returns the names applied now."""
        async with self._migrating:
            applied = await self._migrate()
            self.migrated = True
            return applied

    async def _migrate(self) -> list[str]:
        command, rows = self.backend.command, self.backend.rows
        await command(f"CREATE DATABASE IF NOT EXISTS {self.db}", {})
        await command(
            f"CREATE TABLE IF NOT EXISTS {self.table('schema_migrations')} "
            "(version UInt32, name String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version", {})
        done = {row[0] for row in await rows(f"SELECT version FROM {self.table('schema_migrations')}", {})}
        applied = []
        for version, name, statements in migrations():
            if version in done:
                continue
            for statement in statements:
                await command(statement.replace("{db}", self.db), {})
            await command(f"INSERT INTO {self.table('schema_migrations')} (version, name) "
                          "VALUES ({v:UInt32}, {n:String})", {"v": version, "n": name})
            applied.append(name)
        return applied

    async def close(self) -> None:
        await self.backend.close()


def migrations() -> list[tuple[int, str, list[str]]]:
    """(version, file name, statements) of every file under ``migrations/``, in order."""
    found = []
    for entry in resources.files("meter.store").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            text = entry.read_text(encoding="utf-8")
            statements = [s.strip() for s in _strip_comments(text).split(";") if s.strip()]
            found.append((int(entry.name.split("_", 1)[0]), entry.name, statements))
    return sorted(found)


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
