"""The access-log collector across every rotation logrotate does (the real ``logrotate``, a real
log file written as nginx writes it, the real collector sending to the real app on real Redis and
chDB): rename, any number of times while the collector is stopped or following; copytruncate,
with the file written again shorter or longer than where the collector stood; compressed
generations, with and without delaycompress; a new file that got the old file's inode. Each line
has its own request id: the meter must count every line once, and the collector must send each
once (no duplicates, nothing skipped).

The rotations happen between two awaits, so the collector (a task of the same event loop) cannot
read in between: what it had not read when logrotate ran is in the rotated file only.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from meter.collectors.access_log import Tally, collect_access_logs, generations
from tests.conftest import TOKENS, auth, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
LOGROTATE = shutil.which("logrotate", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def line(i: int) -> bytes:
    return json.dumps({"time": "2026-04-20T11:00:00+00:00", "request_id": f"r{i:06d}", "host": "data.example",
                       "method": "GET", "uri": f"/api/explore/v2.1/catalog/datasets/bus/records?n={i}",
                       "status": 200, "bytes_sent": 10}).encode() + b"\n"


class Gateway:
    """Writes the log as nginx does: one append-only descriptor, kept across a rename until reopened."""

    def __init__(self, log: Path) -> None:
        self.log, self.n = log, 0
        self.fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, n: int) -> None:
        os.write(self.fd, b"".join(line(i) for i in range(self.n, self.n + n)))
        self.n += n

    def reopen(self) -> None:
        os.close(self.fd)
        self.fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        """Close the descriptor once (a test may close it itself before the fixture's teardown)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
def gw(tmp_path):
    (tmp_path / "logs").mkdir()
    gateway = Gateway(tmp_path / "logs" / "access.log")
    yield gateway
    gateway.close()


def logrotate(gw: Gateway, *directives: str) -> None:
    """One forced rotation of the gateway's log by the real logrotate (its state file kept apart)."""
    if LOGROTATE is None:
        pytest.fail("no logrotate: run scripts/test-deps.sh")
    conf = gw.log.parent.parent / "logrotate.conf"
    conf.write_text(f"{gw.log} {{\n  rotate 10\n  missingok\n  " + "\n  ".join(directives) + "\n}\n")
    subprocess.run([LOGROTATE, "-f", "-s", str(conf.with_suffix(".state")), str(conf)], check=True, timeout=30)


async def used(client) -> int:
    await wait_written(client)
    resp = await client.get("/v1/pool", params={"period": "2026-04"}, headers=auth("reader"))
    return (await resp.json())["metrics"]["api_calls"]["used"]


async def once(client, gw: Gateway) -> Tally:
    """``meter collect access-log`` without --follow: to the end, then stop."""
    [(_, tally)] = await collect_access_logs([gw.log], str(client.make_url("")), TOKENS["producer"],
                                             gw.log.parent.parent / "state", "gw", False, asyncio.Event())
    return tally


class Following:
    """``meter collect access-log --follow`` as a task of the test's loop (sending to ``url``, by
    default the meter's)."""

    def __init__(self, client, gw: Gateway, url: str | None = None) -> None:
        self.client, self.stop = client, asyncio.Event()
        self.task = asyncio.create_task(collect_access_logs(
            [gw.log], url or str(client.make_url("")), TOKENS["producer"], gw.log.parent.parent / "state", "gw",
            True, self.stop))

    async def until(self, expected: int, timeout: float = 20.0) -> Tally:
        """Stop once the meter counted ``expected`` calls (or at the timeout); the tally."""
        deadline = time.monotonic() + timeout
        while await used(self.client) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(ROTATE_SETTLE_S)  # anything sent twice would have arrived by now
        self.stop.set()
        [(_, tally)] = await self.task
        return tally


ROTATE_SETTLE_S = 0.5


def exact(tally: Tally, n: int) -> tuple[int, int, int]:
    assert (tally.sent, tally.duplicates, tally.skipped) == (n, 0, 0)
    return tally.sent, tally.duplicates, tally.skipped


async def test_copytruncate_while_following_reads_the_copys_tail_first(client, gw):
    gw.write(300)
    follow = Following(client, gw)
    await asyncio.sleep(0.6)  # it read those
    gw.write(400)  # not read yet: copied, then truncated away from the live file
    logrotate(gw, "copytruncate")
    gw.write(50)  # the live file, shorter than where the collector stood
    tally = await follow.until(750)
    exact(tally, 750)
    assert await used(client) == 750
    assert [p.name for p in generations(gw.log)] == ["access.log.1"]


async def test_copytruncate_then_grown_past_the_offset_while_following(client, gw):
    gw.write(300)
    follow = Following(client, gw)
    await asyncio.sleep(0.6)
    gw.write(200)
    logrotate(gw, "copytruncate")
    gw.write(900)  # longer than the old file before the collector looks again: same inode, same size or more
    tally = await follow.until(1400)
    exact(tally, 1400)
    assert await used(client) == 1400


async def test_copytruncate_while_stopped_and_grown_back_past_the_checkpoint(client, gw):
    gw.write(1000)
    exact(await once(client, gw), 1000)
    gw.write(57)  # after the checkpoint: in the copy only
    logrotate(gw, "copytruncate")
    gw.write(1146)  # the new content runs past the old offset
    exact(await once(client, gw), 1203)
    assert await used(client) == 2203
    exact(await once(client, gw), 0)  # and nothing more the next time


async def test_two_renames_while_stopped_read_every_generation_in_order(client, gw):
    gw.write(500)
    exact(await once(client, gw), 500)
    gw.write(120)  # the rest of the checkpointed file
    for n in (1051, 80):  # a whole generation in the middle, then the start of the live file
        logrotate(gw, "nocreate")
        gw.reopen()  # nginx -s reopen
        gw.write(n)
    assert [p.name for p in generations(gw.log)] == ["access.log.2", "access.log.1"]
    exact(await once(client, gw), 120 + 1051 + 80)
    assert await used(client) == 1751


async def test_renames_while_following_walk_each_generation(client, gw):
    gw.write(200)
    follow = Following(client, gw)
    await asyncio.sleep(0.6)
    gw.write(100)
    logrotate(gw, "nocreate")
    gw.write(20)  # nginx writes to the renamed file until it reopens
    gw.reopen()
    gw.write(300)
    logrotate(gw, "nocreate")
    gw.write(10)
    gw.reopen()
    gw.write(40)
    tally = await follow.until(670)
    exact(tally, 670)
    assert await used(client) == 670


async def test_compressed_at_once_while_stopped_is_read_through_gzip(client, gw):
    gw.write(400)
    exact(await once(client, gw), 400)
    gw.write(90)
    logrotate(gw, "compress", "nocreate")  # access.log.1.gz: the checkpointed file, compressed
    gw.reopen()
    gw.write(30)
    assert [p.name for p in generations(gw.log)] == ["access.log.1.gz"]
    exact(await once(client, gw), 120)
    assert await used(client) == 520


async def test_delaycompress_with_several_rotations_while_stopped(client, gw):
    gw.write(300)
    exact(await once(client, gw), 300)
    gw.write(70)
    for n in (200, 150, 25):
        logrotate(gw, "compress", "delaycompress", "nocreate")
        gw.reopen()
        gw.write(n)
    assert [p.name for p in generations(gw.log)] == ["access.log.3.gz", "access.log.2.gz", "access.log.1"]
    exact(await once(client, gw), 70 + 200 + 150 + 25)
    assert await used(client) == 745


async def test_a_new_file_with_the_old_inode_is_read_from_0(client, gw, tmp_path):
    gw.write(600)
    exact(await once(client, gw), 600)
    inode = gw.log.stat().st_ino
    gw.write(40)
    logrotate(gw, "compress", "nocreate")  # the old file is now access.log.1.gz; its inode is free
    gw.close()
    # The gateway creates its new log: take the file that got the old inode (ext4 gives it back at once).
    made = []
    for k in range(200):
        made.append(gw.log.parent / f"new{k}")
        made[-1].touch()
        if made[-1].stat().st_ino == inode:
            os.rename(made[-1], gw.log)
            break
    else:
        pytest.skip("this file system does not hand out a freed inode again")
    for p in made[:-1]:
        p.unlink()
    gw.fd = os.open(gw.log, os.O_WRONLY | os.O_APPEND)
    gw.write(700)  # longer than the old file: at the old offset, in the middle of a new line
    assert gw.log.stat().st_ino == inode
    exact(await once(client, gw), 740)
    assert await used(client) == 1340


def test_generations_are_ordered_oldest_first(tmp_path):
    log = tmp_path / "access.log"
    for name in ("access.log", "access.log.1", "access.log.2.gz", "access.log.10.gz", "access.log-errors",
                 "access.log.lock", "access.logx", "other.log.1"):
        (tmp_path / name).write_text("")
    assert [p.name for p in generations(log)] == ["access.log.10.gz", "access.log.2.gz", "access.log.1"]
    dated = tmp_path / "d" / "api.log"
    dated.parent.mkdir()
    for name in ("api.log-20261130", "api.log-20261128.gz", "api.log-20261129.gz"):
        (dated.parent / name).write_text("")
    assert [p.name for p in generations(dated)] == ["api.log-20261128.gz", "api.log-20261129.gz", "api.log-20261130"]


async def test_many_renames_with_compression_while_following_and_writing(client, gw):
    follow = Following(client, gw)
    for _ in range(6):
        for _ in range(8):
            gw.write(25)
            await asyncio.sleep(0.1)
        logrotate(gw, "nocreate", "compress", "delaycompress")
        gw.reopen()
    gw.write(25)
    tally = await follow.until(gw.n, timeout=30)
    exact(tally, gw.n)
    assert await used(client) == gw.n


@pytest.fixture
async def gate(client, aiohttp_server):
    """A door in front of the meter: while ``gate.down`` is set it answers 503, else it passes the
    request on (a meter restarting, or a Redis away, as the collector sees them)."""
    from aiohttp import web

    class Gate:
        down = False

    async def handler(request: web.Request) -> web.Response:
        if Gate.down:
            return web.Response(status=503, headers={"Retry-After": "1"})
        resp = await client.post(request.path, data=await request.read(), headers=request.headers)
        return web.Response(status=resp.status, body=await resp.read(), content_type=resp.content_type)

    app = web.Application()
    app.router.add_post("/v1/events", handler)
    server = await aiohttp_server(app)
    Gate.url = str(server.make_url(""))
    return Gate


async def test_renames_with_compression_while_the_meter_is_away(client, gw, gate):
    gw.write(100)
    follow = Following(client, gw, gate.url)
    await asyncio.sleep(0.6)
    gate.down = True  # the collector retries one batch meanwhile, holding its file
    for n in (40, 60, 80):
        gw.write(n)
        await asyncio.sleep(0.3)
        logrotate(gw, "nocreate", "compress", "delaycompress")
        gw.reopen()
    gw.write(30)
    await asyncio.sleep(1.5)
    gate.down = False
    tally = await follow.until(gw.n, timeout=40)
    exact(tally, gw.n)
    assert await used(client) == gw.n


async def test_a_file_that_grew_while_the_meter_was_away_is_read_to_its_end_first(client, gw, gate):
    """Found by ``make soak``: the collector waited on one batch while the gateway wrote on and
    logrotate renamed the file; once the batch went through, the file had been quiet "for long
    enough" by the clock of its last read, and the collector moved on, leaving the lines written
    meanwhile behind."""

    async def writing():
        while True:
            gw.write(5)
            await asyncio.sleep(0.1)

    w = asyncio.create_task(writing())
    follow = Following(client, gw, gate.url)
    await asyncio.sleep(3)
    gate.down = True
    await asyncio.sleep(1.7)
    logrotate(gw, "nocreate", "compress", "delaycompress")
    gw.reopen()
    await asyncio.sleep(2)
    gate.down = False
    await asyncio.sleep(0.3)
    logrotate(gw, "nocreate", "compress", "delaycompress")
    gw.reopen()
    await asyncio.sleep(3)
    w.cancel()
    tally = await follow.until(gw.n, timeout=40)
    exact(tally, gw.n)
    assert await used(client) == gw.n
