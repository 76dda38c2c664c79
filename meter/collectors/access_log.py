"""``meter collect access-log``: the gateway's JSON access log -> ``api.call`` events.

Each line is one request as ``deploy/nginx/meter-log-format.conf`` writes it. A line is metered
when its path begins with ``/api/`` and its status is below 400; its event's id is the request's
``request_id``, so a line sent twice counts once (the meter's dedup). What was accepted is
remembered per file as (inode, offset, fingerprint of its first line), written after each 202: a
crash re-sends at most the batches on the wire, which the meter answers as duplicates.

Rotation, as logrotate does it: the files beside the path (``FILE.1``, ``FILE.2.gz``,
``FILE-20261129``) are its older generations, oldest first. The checkpointed file is found among
them by its fingerprint (and inode, when not compressed), read from the checkpoint to its end, then
each newer one, then the file at the path. A file whose first line is no longer the one it had
(``copytruncate``, or a new file that got the old inode) is a new file: the rest of the old one is
read from its copy first, and the new one from 0. Compressed generations are read through their
decompressor.
"""
from __future__ import annotations

import asyncio
import bz2
import gzip
import hashlib
import logging
import lzma
import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

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
log = logging.getLogger("meter.collectors")


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


COMPRESSED: dict[str, Callable[[Path], BinaryIO]] = {
    ".gz": lambda p: cast(BinaryIO, gzip.open(p, "rb")),
    ".bz2": lambda p: cast(BinaryIO, bz2.open(p, "rb")),
    ".xz": lambda p: cast(BinaryIO, lzma.open(p, "rb")),
}
HEAD = 1024  # the fingerprint is of the first line, or of its first KiB when it is longer
_GENERATION = re.compile(r"[-._]\d[\d._-]*")  # what logrotate appends: .1, -20261129, .2026-11-29
_NUMBERED = re.compile(r"\.(\d{1,4})")  # .1 is newer than .2


def fingerprint(first: bytes) -> str:
    """Of a file's first ``HEAD`` bytes: a digest of its first line (of all ``HEAD`` bytes when the line
    is longer), or "" while that line is not complete (an empty file, a line being written)."""
    cut = first.find(b"\n")
    if cut >= 0:
        first = first[:cut + 1]
    elif len(first) < HEAD:
        return ""
    return hashlib.blake2b(first[:HEAD], digest_size=16).hexdigest()


def _compression(path: Path) -> str:
    return next((ext for ext in COMPRESSED if path.name.endswith(ext)), "")


def _open(path: Path) -> BinaryIO:
    ext = _compression(path)
    return COMPRESSED[ext](path) if ext else open(path, "rb")


def generations(path: Path) -> list[Path]:
    """The rotated files beside ``path``, oldest first: ``FILE.3.gz, FILE.2, FILE.1`` or
    ``FILE-20261128.gz, FILE-20261129``."""
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    keyed: list[tuple[tuple[int, int, str], str]] = []
    for name in names:
        if name == path.name or not name.startswith(path.name):
            continue
        rest = name[len(path.name):]
        ext = _compression(Path(rest))
        rest = rest[:len(rest) - len(ext)]
        if not _GENERATION.fullmatch(rest):
            continue
        numbered = _NUMBERED.fullmatch(rest)
        keyed.append(((1, -int(numbered[1]), "") if numbered else (0, 0, rest), name))
    return [path.parent / name for _, name in sorted(keyed)]


@dataclass(frozen=True)
class Seen:
    """One file of the rotation as it is on disk now."""

    path: Path
    inode: int
    head: str
    mtime: float
    compressed: bool

    @classmethod
    def of(cls, path: Path) -> Seen | None:
        try:
            st = path.stat()
            with _open(path) as f:
                first = f.read(HEAD)
        except (OSError, EOFError, gzip.BadGzipFile, lzma.LZMAError):
            return None  # gone meanwhile, or a compressed file still being written
        return cls(path, st.st_ino, fingerprint(first), st.st_mtime, bool(_compression(path)))


def rotation(path: Path) -> list[Seen]:
    """Every file of ``path``'s rotation, oldest first, the file at the path last. A compressed file
    beside its uncompressed original (logrotate is compressing it) is left out: it may be incomplete."""
    files = [seen for p in [*generations(path), path] if (seen := Seen.of(p)) is not None]
    plain = {s.head for s in files if not s.compressed and s.head}
    return [s for s in files if not (s.compressed and s.head in plain)]


def find(files: list[Seen], inode: int, head: str) -> int | None:
    """Where the file of (inode, head) is among ``files``: by its fingerprint, preferring the same
    inode (the copy of a copytruncate has another); by its inode alone when it had no complete line."""
    if not head:
        return next((i for i, s in enumerate(files) if s.inode == inode and not s.compressed), None)
    same = [i for i, s in enumerate(files) if s.head == head]
    return next((i for i in same if files[i].inode == inode and not files[i].compressed), same[0] if same else None)


@dataclass
class Tally:
    sent: int = 0
    duplicates: int = 0
    skipped: int = 0

    def summary(self, path: Path) -> str:
        return f"sent {self.sent} events ({self.duplicates} duplicates, {self.skipped} skipped) from {path}"


@dataclass
class _Open:
    """The file being read: opened once, so a rename under us changes nothing."""

    f: BinaryIO
    path: Path  # its name when it was opened
    inode: int
    compressed: bool
    offset: int  # where the lines whose events the meter accepted end (the checkpoint's offset)
    head: str = ""  # its fingerprint, once its first line is complete
    pending: bytes = b""
    first: bytes = b""  # its first bytes as read, until the fingerprint is known
    replaced: bool = False  # truncated or rewritten under us: what was read from it since is not its
    mtime: float = 0.0  # a compressed file's, when it was opened

    @classmethod
    def at(cls, path: Path, offset: int, head: str = "") -> _Open:
        """``path`` from ``offset`` (from 0 when it is not the file of fingerprint ``head``)."""
        f = _open(path)
        try:
            compressed = bool(_compression(path))
            st = os.stat(path) if compressed else os.fstat(f.fileno())
            found = fingerprint(f.read(HEAD))
            if head and found != head:
                offset = 0  # another file took its place meanwhile
            if not compressed and offset > st.st_size:
                offset = 0  # shorter than where we were: truncated
            f.seek(offset)
        except BaseException:
            f.close()
            raise
        return cls(f, path, st.st_ino, compressed, offset, found, mtime=st.st_mtime)

    def lines(self) -> tuple[list[bytes], int, bool]:
        """(complete lines from where reading stands, the offset after them, whether more was read).

        A partial last line is kept until its end arrives."""
        try:
            chunk = self.f.read(CHUNK)
        except (EOFError, gzip.BadGzipFile, lzma.LZMAError) as err:  # a compressed file cut short
            log.warning("%s ends early (%s): reading on from the next file", self.path, err)
            chunk = b""
        if not self.head and self.f.tell() - len(chunk) == len(self.first):  # read on from the start
            self.first += chunk[:HEAD - len(self.first)]
            self.head = fingerprint(self.first)
        data = self.pending + chunk
        cut = data.rfind(b"\n") + 1
        lines, self.pending = data[:cut].splitlines(), data[cut:]
        if len(self.pending) > MAX_LINE:  # no log line is that long: one malformed line, not a growing buffer
            lines.append(self.pending)
            self.pending = b""
        return lines, self.f.tell() - len(self.pending), bool(chunk)

    def rewritten(self) -> bool:
        """Truncated, or its beginning is no longer what it was (copytruncate, then written again)."""
        if self.compressed:
            return False
        fd = self.f.fileno()
        if os.fstat(fd).st_size < self.f.tell():
            return True
        return bool(self.head) and fingerprint(os.pread(fd, HEAD, 0)) != self.head

    def position(self) -> Position:
        mtime = self.mtime if self.compressed else os.fstat(self.f.fileno()).st_mtime
        return Position(self.inode, self.offset, self.head, mtime)


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
        """Resume where the checkpoint says: in the file it names, wherever rotation put it."""
        for _ in range(5):
            try:
                return self._resume()
            except FileNotFoundError:  # logrotate moved it between the listing and the opening
                time.sleep(0.1)
        self._resume()

    def _resume(self) -> None:
        pos = self.checkpoints.get(self.key)
        if pos is None:
            if self.path.exists():
                self.current = _Open.at(self.path, 0)
            return
        files = rotation(self.path)
        if (i := find(files, pos.inode, pos.head)) is not None:
            self.current = _Open.at(files[i].path, pos.offset, pos.head)
            return
        # Gone (rotated out, or deleted): every file written since it was last seen, from 0
        # (what was sent before comes back as duplicates, not lost).
        # A checkpoint of an older collector (no mtime): the file at the path, as it did.
        later = [s for s in files if s.mtime >= pos.mtime] if pos.mtime else files[-1:]
        if later:
            log.warning("%s: the file of the checkpoint is gone; reading from %s", self.path, later[0].path)
            self.current = _Open.at(later[0].path, 0)

    async def drain(self) -> None:
        """Send everything complete in the current file, one batch per chunk, checkpointing each
        in order. The next chunk is read and parsed while a batch is on the wire (``WINDOW``
        batches at most), so the collector's CPU and the meter's overlap. A file rewritten under
        us stops the drain: what was read from it since is dropped, the batches before settle."""
        in_flight: deque[tuple[asyncio.Task[None], int]] = deque()
        try:
            while self.current is not None and not self.stop.is_set():
                lines, end, more = self.current.lines()
                if self.current.rewritten():
                    self.current.replaced = True
                    break
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
        self.checkpoints.put(self.key, self.current.position())

    def _switch(self, path: Path, offset: int, head: str = "") -> None:
        if self.current is not None:
            self.current.f.close()
        self.current = _Open.at(path, offset, head)
        self._save()

    def next_file(self, quiet: bool) -> bool:
        """Move on from a rotated or rewritten file when it is time; True when it did."""
        cur = self.current
        if cur is None:
            if not self.path.exists():
                return False
            self._switch(self.path, 0)
            return True
        if cur.replaced or cur.rewritten():  # copytruncate: the rest is in the copy, the new lines from 0
            files = rotation(self.path)
            copy = next((s for s in reversed(files) if cur.head and s.head == cur.head
                         and (s.inode != cur.inode or s.compressed)), None)
            try:
                if copy is None:
                    log.warning("%s was truncated with no copy beside it: reading it again from 0", self.path)
                    self._switch(self.path, 0)
                else:
                    self._switch(copy.path, cur.offset, cur.head)
            except FileNotFoundError:
                return False  # compressed or removed since it was listed: look again
            return True
        if not cur.compressed and _inode(self.path) == cur.inode:
            return False  # still the file at the path
        if not quiet:
            return False  # the gateway may still write to it until it reopens
        if not cur.compressed and os.fstat(cur.f.fileno()).st_size > cur.f.tell():
            return False  # it grew while a batch waited for the meter: read it again first
        files = rotation(self.path)
        i = find(files, cur.inode, cur.head)
        if i is not None:
            newer = [s for s in files[i + 1:] if not (cur.head and s.head == cur.head)]  # not its own .gz
        else:
            mtime = cur.position().mtime
            newer = [s for s in files if s.mtime >= mtime and not (cur.head and s.head == cur.head)]
        if not newer:
            return False
        try:
            self._switch(newer[0].path, 0)
        except FileNotFoundError:
            return False  # compressed or removed since it was listed: look again
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
