"""``meter collect access-log``: the gateway's JSON access log -> ``api.call`` events.

Each line is one request as ``deploy/nginx/meter-log-format.conf`` writes it. A line is metered
when its path begins with ``/api/`` and its status is below 400; its event's id is the request's
``request_id``, so a line sent twice counts once (the meter's dedup). What was accepted is
remembered per file as (inode, offset), written after each 202: a crash re-sends at most one
batch, which the meter answers as duplicates.

Rotation: a file renamed beside its path (``FILE.1``, ``FILE-20261129``) is found again by its
inode and read to its end before the new file at the path; a file shorter than the offset was
truncated and is read from 0.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import orjson

from meter.attribution.paths import dataset_of
from meter.collectors.sender import MeterClient, Stopped
from meter.collectors.state import Checkpoints, Position

CHUNK = 512 * 1024  # one batch per chunk read: ~2,000 lines, well under the meter's batch limits
WINDOW = 2  # batches on the wire at once
POLL_S = 0.2  # --follow: how often a file is looked at again (polling: no inotify dependency)
ROTATE_QUIET_S = 1.0  # --follow: the old file must stay quiet this long before we move to the new one
MAX_TEXT = 256
MAX_LINE = 1024 * 1024


def _text(value: Any) -> str:
    return value if type(value) is str and 0 < len(value) <= MAX_TEXT and value.isprintable() else ""


def _status(value: Any) -> int | None:
    if type(value) is int:
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def event_of(raw: bytes, source: str) -> dict[str, Any] | None:
    """The ``api.call`` event of one log line, or None when it is not metered or is malformed."""
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(line) is not dict:
        return None
    uri, status = line.get("uri"), _status(line.get("status"))
    if not (type(uri) is str and uri.startswith("/api/") and status is not None and status < 400):
        return None
    rid, host, when = _text(line.get("request_id")), _text(line.get("host")), _text(line.get("time"))
    if not (rid and host and when):
        return None
    data = {"host": host}
    if dataset := dataset_of(uri):
        data["dataset"] = dataset
    return {"specversion": "1.0", "id": rid, "source": source, "type": "api.call", "time": when, "data": data}


@dataclass
class Tally:
    sent: int = 0
    duplicates: int = 0
    skipped: int = 0

    def summary(self, path: Path) -> str:
        return f"sent {self.sent} events ({self.duplicates} duplicates, {self.skipped} skipped) from {path}"


def rotated_copy(path: Path, inode: int) -> Path | None:
    """The file beside ``path`` that still has ``inode`` (``FILE.1``, ``FILE-20261129``...)."""
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return None
    for name in sorted(names):
        if name != path.name and name.startswith(path.name):
            candidate = path.parent / name
            try:
                if candidate.stat().st_ino == inode:
                    return candidate
            except FileNotFoundError:
                continue
    return None


@dataclass
class _Open:
    """The file being read: opened once, so a rename under us changes nothing."""

    f: BinaryIO
    inode: int
    offset: int  # where the lines whose events the meter accepted end (the checkpoint's offset)
    pending: bytes = b""

    @classmethod
    def at(cls, path: Path, offset: int) -> _Open:
        f = open(path, "rb")
        st = os.fstat(f.fileno())
        offset = offset if offset <= st.st_size else 0  # shorter than where we were: truncated
        f.seek(offset)
        return cls(f, st.st_ino, offset)

    def lines(self) -> tuple[list[bytes], int, bool]:
        """(complete lines from where reading stands, the offset after them, whether more was read).

        A partial last line is kept until its end arrives."""
        chunk = self.f.read(CHUNK)
        data = self.pending + chunk
        cut = data.rfind(b"\n") + 1
        lines, self.pending = data[:cut].splitlines(), data[cut:]
        if len(self.pending) > MAX_LINE:  # no log line is that long: one malformed line, not a growing buffer
            lines.append(self.pending)
            self.pending = b""
        return lines, self.f.tell() - len(self.pending), bool(chunk)

    def truncated(self) -> bool:
        return os.fstat(self.f.fileno()).st_size < self.f.tell()


@dataclass
class LogCollector:
    """One FILE argument: its current file, its checkpoint, its tally."""

    path: Path
    client: MeterClient
    checkpoints: Checkpoints
    source: str
    stop: asyncio.Event
    tally: Tally = field(default_factory=Tally)
    current: _Open | None = None
    active_at: float = 0.0  # monotonic time the current file last grew

    @property
    def key(self) -> str:
        return f"{self.source}:{self.path.resolve()}"

    def open(self) -> None:
        """Resume where the checkpoint says, finding a rotated file by its inode."""
        pos = self.checkpoints.get(self.key)
        inode = _inode(self.path)
        if pos is not None and inode != pos.inode and (old := rotated_copy(self.path, pos.inode)):
            self.current = _Open.at(old, pos.offset)
        elif inode is not None:
            same = pos is not None and pos.inode == inode
            self.current = _Open.at(self.path, pos.offset if same and pos else 0)

    async def drain(self) -> None:
        """Send everything complete in the current file, one batch per chunk, checkpointing each
        in order. The next chunk is read and parsed while a batch is on the wire (``WINDOW``
        batches at most), so the collector's CPU and the meter's overlap."""
        in_flight: deque[tuple[asyncio.Task[None], int]] = deque()
        try:
            while self.current is not None and not self.stop.is_set():
                lines, end, more = self.current.lines()
                if lines:
                    self.active_at = time.monotonic()
                    if len(in_flight) >= WINDOW:
                        await self._settle(in_flight.popleft())
                    in_flight.append((asyncio.create_task(self._send(lines)), end))
                elif not more:
                    break
            while in_flight:
                await self._settle(in_flight.popleft())
        finally:
            for task, _ in in_flight:  # stopped or refused: what was not settled is read again next time
                if task.done() and not task.cancelled():
                    task.exception()  # seen: its error is the one already raised, or moot
                task.cancel()

    async def _settle(self, sent: tuple[asyncio.Task[None], int]) -> None:
        task, end = sent
        await task
        assert self.current is not None
        self.current.offset = end
        self._save()

    async def _send(self, lines: list[bytes]) -> None:
        events = [ev for line in lines if (ev := event_of(line, self.source)) is not None]
        self.tally.skipped += len(lines) - len(events)
        if events:
            sent = await self.client.send(events)
            self.tally.sent += sent.accepted
            self.tally.duplicates += sent.duplicates
            self.tally.skipped += sent.refused

    def _save(self) -> None:
        assert self.current is not None
        self.checkpoints.put(self.key, Position(self.current.inode, self.current.offset))

    def next_file(self, quiet: bool) -> bool:
        """Move on from a rotated or truncated file when it is time; True when it did."""
        cur = self.current
        inode = _inode(self.path)
        if cur is not None and inode == cur.inode and not cur.truncated():
            return False
        if cur is not None and inode == cur.inode:  # truncated in place (copytruncate)
            cur.f.seek(0)
            cur.offset, cur.pending = 0, b""
            self._save()
            return True
        if inode is None or not quiet:
            return False
        if cur is not None:
            cur.f.close()
        self.current = _Open.at(self.path, 0)
        self._save()
        return True

    def close(self) -> None:
        if self.current is not None:
            self.current.f.close()


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


async def _follow(c: LogCollector, follow: bool) -> None:
    c.open()
    while not c.stop.is_set():
        await c.drain()
        quiet = not follow or time.monotonic() - c.active_at >= ROTATE_QUIET_S
        if c.next_file(quiet):
            continue
        if not follow:
            return
        try:
            await asyncio.wait_for(c.stop.wait(), POLL_S)
        except TimeoutError:
            pass


async def _run_one(c: LogCollector, follow: bool) -> None:
    try:
        await _follow(c, follow)
    except Stopped:
        pass  # the batch in hand was not accepted: its lines are read again next time
    finally:
        c.close()


async def collect_access_logs(files: list[Path], url: str, token: str, state_dir: Path, source: str,
                              follow: bool, stop: asyncio.Event) -> list[tuple[Path, Tally]]:
    """Read each file (to its end, or until ``stop`` with ``follow``); the tally of each."""
    checkpoints = Checkpoints(state_dir / "access-log.json")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        client = MeterClient(session, url, token, stop)
        collectors = [LogCollector(path, client, checkpoints, source, stop) for path in files]
        await asyncio.gather(*(_run_one(c, follow) for c in collectors))
    return [(c.path, c.tally) for c in collectors]
