"""A lean connection for the hot path's script calls: EVALSHA (and WAIT) with nothing in between.

redis-py's call as the service makes it costs about three times a bare protocol call in Python
(connection pool, command packing per argument, response callbacks, retries): on a single
decision, that is most of the meter's own time. This connection speaks the protocol directly
on one socket (an asyncio protocol: replies are parsed in the loop's read callback, with no
reader task in between), parses replies with hiredis (the C parser redis-py uses too) and
pipelines: each call writes its command and awaits the next reply in order, so concurrent
callers share the socket. Errors are redis-py's own exception classes, so callers translate
them as before.

It is used for ``decide.lua`` only, on a plain Redis over TCP or a Unix socket; a cluster or TLS
keep redis-py for everything (``LeanScripts.usable``). Where Redis runs on the meter's host, its
Unix socket is the shorter way: on loopback TCP every message also goes through the TCP stack.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis import exceptions as rex
from redis._parsers.base import BaseParser
from redis.connection import parse_url

# redis-py's own error classes for a reply's error text (NOSCRIPT, OOM, READONLY...), and its URL parser
_error: Any = BaseParser.parse_error
_parse_url: Any = parse_url


def encode(args: Sequence[Any]) -> bytes:
    """One command in RESP, an array of bulk strings (str, int, float or bytes), packed by hiredis
    in C: about a quarter of the same loop in Python."""
    return cast(bytes, hiredis.pack_command(tuple(args)))


class _Connection(asyncio.Protocol):
    """One socket whose replies are parsed as they arrive, in the loop's own read callback (no
    reader task between the socket and the caller: one hop fewer a reply), and handed to the
    callers' futures in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.open = True
        self.parser = hiredis.Reader(replyError=rex.ResponseError, protocolError=rex.InvalidResponse)
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, data: bytes, replies: int = 1) -> list[asyncio.Future[Any]]:
        if not self.open or self.transport is None:
            raise rex.ConnectionError("Redis connection lost")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(replies)]
        self.pending.extend(futures)
        self.transport.write(data)
        return futures

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        try:
            while (reply := self.parser.gets()) is not False:
                future = self.pending.popleft()
                if not future.done():  # a caller that gave up (timeout) still had its reply read
                    future.set_result(reply)
        except (rex.InvalidResponse, IndexError) as exc:  # garbage, or a reply nobody asked for
            self.fail(rex.ConnectionError(f"Redis connection lost: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(rex.ConnectionError(f"Redis connection lost: {exc}" if exc else "Redis closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)

    def fail(self, error: Exception) -> None:
        self.open = False
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    async def aclose(self, error: Exception) -> None:
        self.fail(error)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.closed), 1.0)


def _expire(futures: Sequence[asyncio.Future[Any]], timeout_s: float) -> None:
    for future in futures:
        if not future.done():  # its reply, when it comes, is read and dropped
            future.set_exception(TimeoutError(f"no reply from Redis within {timeout_s * 1000:.0f} ms"))


async def _replies(futures: list[asyncio.Future[Any]], timeout_s: float | None) -> list[Any]:
    """The replies in order; past ``timeout_s``, ``TimeoutError``. One timer per call, cheaper
    than ``asyncio.timeout`` on the hot path (which also cancels and uncancels the task)."""
    if timeout_s is None:
        return [await f for f in futures]
    timer = asyncio.get_running_loop().call_later(timeout_s, _expire, futures, timeout_s)
    try:
        return [await f for f in futures]
    finally:
        timer.cancel()
        for f in futures:  # expired together: the first raised, the others' errors are read here
            if f.done() and not f.cancelled():
                f.exception()


def _raised(reply: Any) -> Any:
    if isinstance(reply, rex.ResponseError):
        raise _error(str(reply))
    return reply


class LeanScripts:
    """One pipelined connection; ``call`` sends one command and returns its reply (or raises)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        opts = _parse_url(url)
        self.path: str | None = opts.get("path")  # a Unix socket (unix://), else TCP
        self.host = str(opts.get("host", "127.0.0.1"))
        self.port = int(opts.get("port", 6379))
        self.auth = [a for a in (opts.get("username"), opts.get("password")) if a]
        self.db = int(opts.get("db", 0) or 0)
        self.timeout_s = timeout_s
        self._conn: _Connection | None = None
        self._connecting = asyncio.Lock()

    @staticmethod
    def usable(url: str, cluster: bool) -> bool:
        return not cluster and url.startswith(("redis://", "unix://"))

    async def call(self, *args: Any, timeout_s: float | None = None) -> Any:
        """One command's reply (its error raised); ``timeout_s`` bounds the wait, connecting
        included (``TimeoutError``)."""
        conn = await self._connection(timeout_s)
        return _raised((await _replies(conn.send(encode(args)), timeout_s))[0])

    async def calls(self, *commands: Sequence[Any], timeout_s: float | None = None) -> list[Any]:
        """Several commands in one write, their replies in order (errors returned, not raised)."""
        conn = await self._connection(timeout_s)
        futures = conn.send(b"".join(encode(c) for c in commands), len(commands))
        replies = await _replies(futures, timeout_s)
        return [_error(str(r)) if isinstance(r, rex.ResponseError) else r for r in replies]

    async def _connection(self, timeout_s: float | None = None) -> _Connection:
        current = self._conn
        if current is not None and current.open:
            return current
        async with asyncio.timeout(timeout_s):  # connecting: the cold path
            return await self._connect()

    async def _connect(self) -> _Connection:
        async with self._connecting:
            if self._conn is not None and self._conn.open:
                return self._conn
            try:
                _, conn = await asyncio.wait_for(self._open(), self.timeout_s)
            except (OSError, TimeoutError) as exc:
                where = self.path or f"{self.host}:{self.port}"
                raise rex.ConnectionError(f"cannot connect to Redis at {where}: {exc}") from exc
            for command in ([["AUTH", *self.auth]] if self.auth else []) + ([["SELECT", self.db]] if self.db else []):
                try:
                    _raised(await conn.send(encode(command))[0])
                except rex.RedisError:
                    await conn.aclose(rex.ConnectionError(f"Redis refused {command[0]}"))
                    raise
            self._conn = conn
            return conn

    async def _open(self) -> tuple[asyncio.BaseTransport, _Connection]:
        loop = asyncio.get_running_loop()
        if self.path is not None:
            return await loop.create_unix_connection(_Connection, self.path)
        transport, conn = await loop.create_connection(_Connection, self.host, self.port)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return transport, conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose(rex.ConnectionError("closed"))
