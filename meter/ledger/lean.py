"""A lean connection for the hot path's script calls: EVALSHA (and WAIT) with nothing in between.

redis-py's call as the service makes it costs about three times a bare protocol call in Python
(connection pool, command packing per argument, response callbacks, retries): on a single
decision, that is most of the meter's own time. This connection speaks the protocol directly
on one socket, parses replies with hiredis (the C parser redis-py uses too) and pipelines: each
call writes its command and awaits the next reply in order, so concurrent callers share the
socket. Errors are redis-py's own exception classes, so callers translate them as before.

It is used for ``decide.lua`` only, on a plain TCP Redis; a cluster, TLS or a Unix socket keep
redis-py for everything (``LeanScripts.usable``).
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
from redis import exceptions as rex
from redis._parsers.base import BaseParser
from redis.connection import parse_url

_CRLF = b"\r\n"
# redis-py's own error classes for a reply's error text (NOSCRIPT, OOM, READONLY...), and its URL parser
_error: Any = BaseParser.parse_error
_parse_url: Any = parse_url


def encode(args: Sequence[Any]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        value = arg if isinstance(arg, bytes) else str(arg).encode()
        out += [b"$%d\r\n" % len(value), value, _CRLF]
    return b"".join(out)


class _Connection:
    """One socket, its replies awaited in order, and the task that reads them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.open = True
        self.reading = asyncio.create_task(self._read(reader))

    def send(self, data: bytes, replies: int = 1) -> list[asyncio.Future[Any]]:
        if not self.open:
            raise rex.ConnectionError("Redis connection lost")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(replies)]
        self.pending.extend(futures)
        self.writer.write(data)
        return futures

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader(replyError=rex.ResponseError, protocolError=rex.InvalidResponse)
        error: Exception = rex.ConnectionError("Redis closed the connection")
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = self.pending.popleft()
                    if not future.done():  # a caller that gave up (timeout) still had its reply read
                        future.set_result(reply)
        except (OSError, rex.InvalidResponse, IndexError) as exc:
            error = rex.ConnectionError(f"Redis connection lost: {exc}")
        self.fail(error)

    def fail(self, error: Exception) -> None:
        self.open = False
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)
        self.writer.close()

    async def aclose(self, error: Exception) -> None:
        self.fail(error)
        self.reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reading
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def _raised(reply: Any) -> Any:
    if isinstance(reply, rex.ResponseError):
        raise _error(str(reply))
    return reply


class LeanScripts:
    """One pipelined connection; ``call`` sends one command and returns its reply (or raises)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        opts = _parse_url(url)
        self.host = str(opts.get("host", "127.0.0.1"))
        self.port = int(opts.get("port", 6379))
        self.auth = [a for a in (opts.get("username"), opts.get("password")) if a]
        self.db = int(opts.get("db", 0) or 0)
        self.timeout_s = timeout_s
        self._conn: _Connection | None = None
        self._connecting = asyncio.Lock()

    @staticmethod
    def usable(url: str, cluster: bool) -> bool:
        return not cluster and url.startswith("redis://")

    async def call(self, *args: Any) -> Any:
        conn = await self._connection()
        return _raised(await conn.send(encode(args))[0])

    async def calls(self, *commands: Sequence[Any]) -> list[Any]:
        """Several commands in one write, their replies in order (errors returned, not raised)."""
        conn = await self._connection()
        futures = conn.send(b"".join(encode(c) for c in commands), len(commands))
        replies = [await f for f in futures]
        return [_error(str(r)) if isinstance(r, rex.ResponseError) else r for r in replies]

    async def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and conn.open:
            return conn
        async with self._connecting:
            if self._conn is not None and self._conn.open:
                return self._conn
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                        self.timeout_s)
            except (OSError, TimeoutError) as exc:
                raise rex.ConnectionError(f"cannot connect to Redis at {self.host}:{self.port}: {exc}") from exc
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(reader, writer)
            for command in ([["AUTH", *self.auth]] if self.auth else []) + ([["SELECT", self.db]] if self.db else []):
                try:
                    _raised(await conn.send(encode(command))[0])
                except rex.RedisError:
                    await conn.aclose(rex.ConnectionError(f"Redis refused {command[0]}"))
                    raise
            self._conn = conn
            return conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose(rex.ConnectionError("closed"))
