"""A TEST-ONLY stand-in for a ClickHouse server: its HTTP interface, on the real engine (chDB).

This is not a ClickHouse server and must never run in production. No ClickHouse server recent
enough for the schema can be installed on the development machines (DESIGN §7), so the suite
starts this process wherever a test needs the server path (``ServerBackend``, clickhouse-connect)
and ``METER_TEST_CLICKHOUSE_URL`` names no real server. Every statement runs on chDB, the
ClickHouse engine itself; only the HTTP layer is ours.

What it speaks, as clickhouse-connect (1.x) uses it:
- ``GET /ping`` and ``GET /`` without a query: ``Ok.``
- ``GET`` or ``POST /``: the query in the ``query`` URL parameter, in the body, or both (the body
  then follows the query after a newline, as an INSERT's data), or in a multipart form
  (``query`` and ``param_*`` fields); ``database``; ``default_format`` (else TabSeparated, or
  the statement's own ``FORMAT``); ``param_<name>`` values for ``{name:Type}`` placeholders,
  parsed by the engine; every other URL parameter is a setting of that one request (e.g.
  ``insert_deduplication_token``), unknown ones refused as the server does (UNKNOWN_SETTING).
- A ``GET`` runs read-only statements only (READONLY otherwise), as on a server.
- Request bodies compressed with ``Content-Encoding`` gzip, deflate, lz4 (frame), zstd (and br
  when ``brotli`` is installed); responses compressed the same way when the request says
  ``enable_http_compression=1`` and ``Accept-Encoding`` lists one, chosen in the server's order
  of preference (zstd, br, lz4, gzip, deflate).
- Answers with ``X-ClickHouse-Query-Id`` (the ``query_id`` sent, or a new one),
  ``X-ClickHouse-Summary`` (rows and bytes read and written, as strings),
  ``X-ClickHouse-Timezone``, ``X-ClickHouse-Format`` (statements that produce a result) and
  ``X-ClickHouse-Server-Display-Name``.
- Errors as the server sends them: the HTTP status ClickHouse gives the code (400 parse and
  syntax, 403 authentication, 404 unknown table/database/setting..., 501 not implemented, else
  500), ``X-ClickHouse-Exception-Code``, and the body
  ``Code: N. DB::Exception: ... (NAME) (version V)``.
- Authentication: HTTP Basic, ``X-ClickHouse-User``/``X-ClickHouse-Key``, or ``user``/``password``
  parameters, against the one user it is started with (AUTHENTICATION_FAILED otherwise).
- ``session_id``: a session used by two requests at once answers SESSION_IS_LOCKED, and
  ``session_check=1`` on an unknown session SESSION_NOT_FOUND, as on a server.

What it does not: ``client_protocol_version`` (the client's probe then reads plain Native and
stays at protocol 0, as behind a proxy that strips the parameter); the native ``compress=1`` /
``decompress=1`` framing and external tables (both answer NOT_IMPLEMENTED); progress headers;
per-session state (``SET`` and ``USE`` statements last their request only, as without a session;
a temporary table is the whole process's); streaming (a result is sent once complete, as with
``wait_end_of_query=1``); concurrency (statements run one at a time, as chDB does); TLS.

Run it: ``python -m tests.clickhouse_http --port 8123 --data DIR [--user U --password P]``; tests
start it with ``StandIn`` below, in its own process (chDB allows one database path per process).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = "clickhouse-http-stand-in"
ROOT = Path(__file__).resolve().parent.parent

# URL parameters that are part of the HTTP interface, not settings of the query
_TRANSPORT = {"query", "database", "default_format", "session_id", "session_timeout", "session_check", "query_id",
              "compress", "decompress", "user", "password", "quota_key", "buffer_size", "wait_end_of_query",
              "role", "client_protocol_version", "stacktrace"}
# settings the HTTP layer itself honours; they are real settings, so they are also SET on the engine
_HTTP_ONLY = {"enable_http_compression", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
              "cancel_http_readonly_queries_on_client_close", "http_zlib_compression_level"}
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CODE = re.compile(r"Code: (\d+)\.")
_ERROR_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
_COMMENTS = re.compile(rb"\A(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.S)
_FIRST_WORD = re.compile(rb"[A-Za-z]+")
_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*\Z", re.I)
_READ_ONLY = {b"SELECT", b"WITH", b"SHOW", b"DESCRIBE", b"DESC", b"EXISTS", b"EXPLAIN", b"CHECK", b"("}

# The HTTP status the server gives an exception code (the codes this stand-in can meet)
_STATUS = {
    **dict.fromkeys((6, 26, 27, 38, 41, 72, 62, 117, 53, 130, 164, 374), 400),  # parse, syntax, bad data, readonly
    **dict.fromkeys((60, 46, 47, 50, 56, 81, 115, 73, 63, 372), 404),  # unknown table, database, setting...
    194: 401, 192: 403, 193: 403, 516: 403,
    393: 413, 48: 501, 209: 503, 76: 503,
}
_TSV = "text/tab-separated-values; charset=UTF-8"
_CONTENT_TYPES = {"TabSeparated": _TSV, "TSV": _TSV,
                  "JSON": "application/json; charset=UTF-8", "JSONEachRow": "application/x-ndjson; charset=UTF-8",
                  "JSONCompactEachRow": "application/x-ndjson; charset=UTF-8", "CSV": "text/csv; charset=UTF-8"}


class Refused(Exception):
    """A ClickHouse exception: ``text`` as the server words it (``Code: N. DB::Exception: ... (NAME)``)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code

    @classmethod
    def of(cls, code: int, name: str, message: str) -> Refused:
        return cls(code, f"Code: {code}. DB::Exception: {message}. ({name})")


# --- compression (Content-Encoding names as ClickHouse uses them) ---

def _zstd() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,no-redef]
    return zstd


def _brotli() -> Any:
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        return None
    return brotli


def decompress(data: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "lz4":
        import lz4.frame
        return lz4.frame.decompress(data)
    if encoding == "zstd":
        return _zstd().decompress(data)
    if encoding == "br" and _brotli() is not None:
        return _brotli().decompress(data)
    raise Refused.of(48, "NOT_IMPLEMENTED", f"Unsupported Content-Encoding: {encoding}")


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "lz4":
        import lz4.frame
        return lz4.frame.compress(data)
    if encoding == "zstd":
        return bytes(_zstd().compress(data))
    if encoding == "br":
        return bytes(_brotli().compress(data))
    return data


def choose_encoding(accept: str) -> str:
    """The response encoding for an Accept-Encoding list, in the server's order of preference."""
    for name in ("zstd", "br", "lz4", "gzip", "deflate"):
        if name in accept and (name != "br" or _brotli() is not None):
            return name
    return ""


# --- the engine: one chDB session, one thread, one statement at a time ---

@dataclass
class Outcome:
    body: bytes
    summary: dict[str, str]
    fmt: str | None


@dataclass
class Engine:
    path: Path
    _session: Any = None
    _applied: dict[str, str] = field(default_factory=dict)
    _database: str = "default"
    version: str = ""
    timezone: str = "UTC"

    def open(self) -> None:
        from chdb import session  # the real engine; imported only in the stand-in's own process

        self.path.mkdir(parents=True, exist_ok=True)
        self._session = session.Session(str(self.path))
        row = self._session.query("SELECT version(), timezone()", "TabSeparated").bytes().decode()
        self.version, self.timezone = row.rstrip("\n").split("\t")

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _query(self, sql: str | bytes, fmt: str = "TabSeparated", params: dict[str, str] | None = None) -> Any:
        try:
            return self._session.query(sql, fmt, params=params or None)
        except RuntimeError as exc:  # chDB raises the engine's exceptions as RuntimeError subclasses
            raise _engine_error(exc) from None

    def _use(self, database: str) -> None:
        if database != self._database:
            self._query(f"USE `{database.replace('`', '')}`")
            self._database = database

    def _apply(self, settings: dict[str, str]) -> None:
        """Make the engine's settings those of this request: change only what differs from the last one."""
        for name in [n for n in self._applied if n not in settings]:
            self._query(f"SET {name} = DEFAULT")
            del self._applied[name]
        for name, value in settings.items():
            if self._applied.get(name) != value:
                if not _SETTING_NAME.match(name):
                    raise Refused.of(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
                self._query(f"SET {name} = {_literal(value)}")
                self._applied[name] = value

    def run(self, sql: bytes, fmt: str, params: dict[str, str], settings: dict[str, str], database: str) -> Outcome:
        self._use(database)
        self._apply(settings)
        kind = statement_kind(sql)
        if kind == b"SET":  # a SET outside a session ends with its request: nothing to keep
            return Outcome(b"", {}, None)
        try:
            result = self._query(sql, fmt, params)
        finally:
            if kind == b"USE":  # nor does a USE outlive it
                self._query(f"USE `{database.replace('`', '')}`")
        produced = None
        if kind in _READ_ONLY:
            head = sql[:20000].decode("utf-8", "replace")
            found = _FORMAT.search(head) if len(sql) <= 20000 else None
            produced = found.group(1) if found else fmt
        summary = {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                   "written_rows": str(result.rows_written()), "written_bytes": str(result.bytes_written()),
                   "total_rows_to_read": "0", "result_rows": "0", "result_bytes": str(result.size()),
                   "elapsed_ns": str(int(result.elapsed() * 1e9))}
        return Outcome(result.bytes() or b"", summary, produced)


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _engine_error(exc: Exception) -> Refused:
    text = str(exc).strip()
    found = _CODE.search(text)
    if found is None:
        return Refused.of(1000, "POCO_EXCEPTION", text)
    return Refused(int(found.group(1)), text)


def statement_kind(sql: bytes) -> bytes:
    """The statement's first keyword, upper-cased (after comments and blanks)."""
    rest = sql[_COMMENTS.match(sql).end():]  # type: ignore[union-attr]
    if rest.startswith(b"("):
        return b"("
    word = _FIRST_WORD.match(rest)
    return word.group(0).upper() if word else b""


# --- the HTTP interface ---

class Server:
    def __init__(self, engine: Engine, user: str, password: str) -> None:
        self.engine = engine
        self.user = user
        self.password = password
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
        self._sessions: set[str] = set()
        self._busy: set[str] = set()

    def app(self) -> Any:
        from aiohttp import web

        # a request's body is decoded here, whatever its Content-Encoding: aiohttp must not inflate it
        app = web.Application(client_max_size=1 << 30, handler_args={"auto_decompress": False})
        app.router.add_route("GET", "/ping", self.ping)
        app.router.add_route("*", "/", self.handle)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, app: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.engine.open)

    async def _close(self, app: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.engine.close)
        self._executor.shutdown(wait=True)

    async def ping(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(body=b"Ok.\n", content_type="text/plain")

    async def handle(self, request: Any) -> Any:
        from aiohttp import web

        query_id = request.query.get("query_id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Server-Display-Name": NAME,
                   "X-ClickHouse-Timezone": self.engine.timezone}
        session = request.query.get("session_id", "")
        locked = False
        try:
            self._authenticate(request)
            args = dict(request.query)
            sql, args = await self._statement(request, args)
            if not sql.strip():
                if request.method == "GET":
                    return web.Response(body=b"Ok.\n", content_type="text/plain", headers=headers)
                raise Refused.of(62, "SYNTAX_ERROR", "Empty query")
            if session:
                self._open_session(session, args)
                locked = True
            for name in ("compress", "decompress"):
                if args.get(name, "0") not in ("", "0", "false"):
                    raise Refused.of(48, "NOT_IMPLEMENTED", f"The stand-in does not implement {name}=1 framing")
            if request.method == "GET" and statement_kind(sql) not in _READ_ONLY:
                raise Refused.of(164, "READONLY", "Cannot execute query in readonly mode. "
                                               "For queries over HTTP, method GET implies readonly")
            params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
            settings = {k: v for k, v in args.items() if k not in _TRANSPORT and not k.startswith("param_")}
            fmt = args.get("default_format") or "TabSeparated"
            database = args.get("database") or "default"
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._executor, self.engine.run, sql, fmt, params, settings, database)
        except Refused as exc:
            return self._error(exc, headers)
        finally:
            if locked:
                self._busy.discard(session)
        headers["X-ClickHouse-Summary"] = json.dumps(outcome.summary, separators=(",", ":"))
        body = outcome.body
        if outcome.fmt is not None:
            headers["X-ClickHouse-Format"] = outcome.fmt
            headers["Content-Type"] = _CONTENT_TYPES.get(outcome.fmt, "application/octet-stream")
        else:
            headers["Content-Type"] = "text/plain; charset=UTF-8"
        if args.get("enable_http_compression") in ("1", "true") and body:
            encoding = choose_encoding(request.headers.get("Accept-Encoding", ""))
            if encoding:
                body = compress(body, encoding)
                headers["Content-Encoding"] = encoding
        return web.Response(body=body, headers=headers)

    def _authenticate(self, request: Any) -> None:
        user, password = request.query.get("user"), request.query.get("password")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        elif "X-ClickHouse-User" in request.headers:
            user, password = request.headers["X-ClickHouse-User"], request.headers.get("X-ClickHouse-Key", "")
        user = user or "default"
        if user != self.user or (password or "") != self.password:
            raise Refused.of(516, "AUTHENTICATION_FAILED", f"{user}: Authentication failed: password is incorrect, "
                                                        "or there is no user with such name")

    async def _statement(self, request: Any, args: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """The statement and its arguments, from the URL, the body (decoded) or a multipart form."""
        if request.content_type == "multipart/form-data":
            form = await request.post()
            for name, value in form.items():
                if not isinstance(value, str):
                    raise Refused.of(48, "NOT_IMPLEMENTED", "The stand-in does not implement external tables")
                args[name] = value
            return args.get("query", "").encode(), args
        body = decompress(await request.read(), request.headers.get("Content-Encoding", ""))
        query = args.get("query", "")
        if query and body:
            return query.encode() + b"\n" + body, args
        return (query.encode() if query else body), args

    def _open_session(self, session: str, args: dict[str, str]) -> None:
        timeout = args.get("session_timeout", "60")
        if not timeout.isdigit():
            raise Refused.of(374, "INVALID_SESSION_TIMEOUT", f"Invalid session timeout: '{timeout}'")
        if args.get("session_check") == "1" and session not in self._sessions:
            raise Refused.of(372, "SESSION_NOT_FOUND", f"Session {session} not found")
        if session in self._busy:
            raise Refused.of(373, "SESSION_IS_LOCKED", f"Session {session} is locked by a concurrent client")
        self._sessions.add(session)
        self._busy.add(session)

    def _error(self, exc: Refused, headers: dict[str, str]) -> Any:
        from aiohttp import web

        headers["X-ClickHouse-Exception-Code"] = str(exc.code)
        headers["Content-Type"] = "text/plain; charset=UTF-8"
        body = f"{exc} (version {self.engine.version or 'unknown'})\n"
        return web.Response(status=_STATUS.get(exc.code, 500), body=body.encode(), headers=headers)


def main(argv: list[str] | None = None) -> None:
    from aiohttp import web

    parser = argparse.ArgumentParser(description="TEST-ONLY ClickHouse HTTP stand-in on chDB (never in production)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--data", type=Path, required=True, help="chDB database path (this process's own)")
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default="")
    args = parser.parse_args(argv)
    server = Server(Engine(args.data), args.user, args.password)
    web.run_app(server.app(), host=args.host, port=args.port, print=None, access_log=None)


# --- for tests: the stand-in in its own process, on a loopback port, stopped by pid ---

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def statement(url: str, sql: str, timeout: float = 30.0) -> bytes:
    """One statement over HTTP, as any client would send it (for tests' set-up and clean-up)."""
    parts = urllib.parse.urlsplit(url)
    token = base64.b64encode(f"{parts.username or 'default'}:{parts.password or ''}".encode()).decode()
    request = urllib.request.Request(f"{parts.scheme}://{parts.hostname}:{parts.port or 8123}/", data=sql.encode(),
                                     headers={"Authorization": f"Basic {token}"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return bytes(answer.read())


class StandIn:
    """Starts ``python -m tests.clickhouse_http`` on loopback; ``url`` is what METER_CLICKHOUSE_URL takes."""

    def __init__(self, data: Path, port: int | None = None, user: str = "default", password: str = "meter") -> None:
        self.data = data
        self.port = port or free_port()
        self.user = user
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> StandIn:
        log = open(self.data.parent / f"clickhouse-http-{self.port}.log", "ab")  # noqa: SIM115 (kept for the child)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.clickhouse_http", "--port", str(self.port), "--data", str(self.data),
             "--user", self.user, "--password", self.password],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the ClickHouse stand-in exited with {self.process.returncode}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=1) as answer:
                    if answer.read() == b"Ok.\n":
                        return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the ClickHouse stand-in did not answer /ping in time")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
