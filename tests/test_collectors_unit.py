"""The collectors' parts: log lines to events, the shared path rule, checkpoints, and --follow
through a rotation (in-process, into the real app on real Redis and chDB)."""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from meter.attribution.paths import dataset_of
from meter.collectors.access_log import collect_access_logs, event_of, find, rotation
from meter.collectors.state import Checkpoints, Position
from tests.conftest import TOKENS, auth, wait_written

LINE = {"time": "2026-04-20T11:00:00+00:00", "request_id": "r1", "host": "data.example", "method": "GET",
        "uri": "/api/explore/v2.1/catalog/datasets/Arrets-Bus/records?limit=1", "status": 200, "bytes_sent": 10}


def line(**changes) -> bytes:
    return json.dumps({**LINE, **changes}).encode()


def test_a_metered_line_is_one_api_call_without_subject():
    assert event_of(line(), "gw") == {
        "specversion": "1.0", "id": "r1", "source": "gw", "type": "api.call", "time": LINE["time"],
        "data": {"host": "data.example", "dataset": "Arrets-Bus"}}  # dataset ids keep their case
    assert event_of(line(uri="/api/records/1.0/search/?dataset=bus&q=x", status="304"), "gw")["data"] == {
        "host": "data.example", "dataset": "bus"}
    assert event_of(line(uri="/api/v2/catalog/datasets"), "gw")["data"] == {"host": "data.example"}


@pytest.mark.parametrize("raw", [
    line(status=404), line(status=500), line(uri="/explore/dataset/bus/"), line(uri="/apis/x"),
    line(request_id=""), line(host=None), line(time=3), line(status="abc"), b'{"time": ', b"[1, 2]", b"",
    line(request_id="a\u0007b"),
])
def test_unmetered_or_malformed_lines_are_skipped(raw):
    assert event_of(raw, "gw") is None


@pytest.mark.parametrize("uri", [
    "/api/explore/v2.1/catalog/datasets/a%20b/records?x=1#frag", "/explore/dataset/bus/?q=1",
    "/api/records/1.0/search/?dataset=d1&dataset=d2", "/api/records/1.0/search/#?dataset=x",
    "http://h.example/api/v2/catalog/datasets/abs/records", "//h.example/explore/dataset/x/", "/",
])
def test_the_fast_uri_split_agrees_with_urlsplit(uri):
    parts = urlsplit(uri)
    from meter.attribution.paths import _split

    assert _split(uri) == (parts.path, parts.query)
    assert dataset_of(uri) == dataset_of(parts.path + ("?" + parts.query if parts.query else ""))


def test_checkpoints_survive_a_new_reader_and_leave_no_temporary_file(tmp_path):
    cp = Checkpoints(tmp_path / "s" / "access-log.json")
    cp.put("gw:/var/log/a", Position(12, 345))
    assert Checkpoints(tmp_path / "s" / "access-log.json").get("gw:/var/log/a") == Position(12, 345)
    assert os.listdir(tmp_path / "s") == ["access-log.json"]


def test_a_rotated_file_is_found_by_its_inode_and_first_line(tmp_path):
    log = tmp_path / "access.log"
    log.write_text("x\n")
    inode = log.stat().st_ino
    (tmp_path / "access.log.2.gz").write_text("old\n")  # not gzip: not a file of the rotation
    os.rename(log, tmp_path / "access.log-20261129")
    log.write_text("")
    files = rotation(log)
    assert [s.path.name for s in files] == ["access.log-20261129", "access.log"]
    head = files[0].head
    assert files[find(files, inode, head)].path == tmp_path / "access.log-20261129"
    assert find(files, inode + 10_000_000, head) == 0  # the same first line: its copy
    assert find(files, inode + 10_000_000, "") is None
    assert find(files, inode, "another head") is None  # the same inode, another file


@pytest.mark.redis
@pytest.mark.chdb
async def test_follow_reads_the_old_file_to_its_end_after_a_rename(client, tmp_path):
    log, state = tmp_path / "access.log", tmp_path / "state"

    def write(path: Path, start: int, n: int) -> None:
        with open(path, "ab") as f:
            f.writelines(line(request_id=f"r{i}") + b"\n" for i in range(start, start + n))

    write(log, 0, 10)
    stop = asyncio.Event()
    task = asyncio.create_task(collect_access_logs([log], str(client.make_url("")), TOKENS["producer"], state,
                                                   "gw", True, stop))
    await asyncio.sleep(0.5)
    os.rename(log, f"{log}.1")
    write(Path(f"{log}.1"), 10, 5)  # the gateway still writes to the old file until it reopens
    log.write_text("")
    await asyncio.sleep(0.3)
    write(Path(f"{log}.1"), 15, 5)
    await asyncio.sleep(1.5)  # the old file goes quiet: the new one is read next
    write(log, 20, 7)
    await asyncio.sleep(1.0)
    stop.set()
    [(path, tally)] = await task
    assert (tally.sent, tally.duplicates, tally.skipped) == (27, 0, 0)
    await wait_written(client)
    resp = await client.get("/v1/pool", params={"period": "2026-04"}, headers=auth("reader"))
    assert (await resp.json())["metrics"]["api_calls"]["used"] == 27


def test_a_line_without_end_is_cut_at_a_mebibyte(tmp_path):
    from meter.collectors.access_log import MAX_LINE, _Open

    log = tmp_path / "access.log"
    log.write_bytes(b"x" * (3 * MAX_LINE) + b"\n" + line() + b"\n")
    reader = _Open.at(log, 0)
    seen: list[bytes] = []
    while True:
        lines, end, more = reader.lines()
        seen += lines
        if not lines and not more:
            break
    reader.f.close()
    assert seen[-1] == line() and end == log.stat().st_size and len(seen) > 2
    assert max(map(len, seen)) <= MAX_LINE + 512 * 1024
