"""Every Lua script keeps to one Redis Cluster slot: its pool's (DESIGN §7).

The app runs on the cluster while ``MONITOR`` on the master that holds the pool records what each
script does: every ``EVALSHA`` and, after it, each command the script ran. Each key is found by
``COMMAND GETKEYS`` and placed by ``CLUSTER KEYSLOT``: every key every script declares or touches
must be in the slot of the pool's hash tag, and each of the service's scripts must have run (on
that master: a script sent elsewhere would show up missing).
"""
import hashlib
import re
import socket
import threading
from datetime import UTC, datetime

import pytest

from meter.http import appkeys
from meter.jobs.scheduler import Jobs
from meter.ledger import scripts
from tests.conftest import auth, wait_written
from tests.redis_cluster import redis_client, settings  # noqa: F401  (fixtures: the app on the cluster)
from tests.test_events_api import NDJSON, event, ndjson, register

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
SCRIPTS = ("ingest", "decide", "reservation", "attribute", "lease", "flush_denials")
_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b", b'"': b'"', b"\\": b"\\"}


def _unescape(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i:i + 1] == b"\\":
            nxt = raw[i + 1:i + 2]
            if nxt == b"x":
                out += bytes([int(raw[i + 2:i + 4], 16)])
                i += 4
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += raw[i:i + 1]
        i += 1
    return bytes(out)


class Monitor:
    """``MONITOR`` on one node, read on a thread: (client, args) per command, in the node's order."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        self.lines: list[tuple[str, list[bytes]]] = []
        self._buffer = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\r\n")
            for line in complete:
                head, _, rest = line.partition(b"] ")
                if not head.startswith(b"+") or b"[" not in head:
                    continue
                who = head.split(b"[", 1)[1].split(b" ", 1)[1].decode()
                self.lines.append((who, [_unescape(a) for a in _ARG.findall(rest)]))

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def by_script(lines: list[tuple[str, list[bytes]]]) -> dict[str, list[list[bytes]]]:
    """The commands each script ran (its EVALSHA's declared keys first), by script name."""
    names = {hashlib.sha1(scripts.source(n).encode()).hexdigest(): n for n in SCRIPTS}
    runs: dict[str, list[list[bytes]]] = {}
    current: list[list[bytes]] | None = None
    for who, args in lines:
        if who != "lua":
            command = args[0].upper() if args else b""
            current = None
            if command in (b"EVALSHA", b"EVAL"):
                name = names.get(args[1].decode()) if command == b"EVALSHA" else "(eval)"
                current = runs.setdefault(name or f"(unknown {args[1][:12]!r})", [])
                current.append([b"EVALSHA", *args[3:3 + int(args[2])]])  # its declared keys
            continue
        if current is not None:
            current.append(args)
    return runs


async def drive_every_script(client) -> None:
    """Events (one attributed by host), consuming checks up to denials, a reservation committed and
    one released, the denial flush, and the writer (its lease) emptying the stream."""
    await register(client, "loiret")
    call = event(2, count=2, host="data.loiret.fr")
    del call["subject"]
    resp = await client.post("/v1/events", data=ndjson([event(1), call]), headers=NDJSON)
    assert resp.status == 202, await resp.text()
    for _ in range(2):
        resp = await client.post("/v1/check", json={"signatory": "loiret", "metric": "api_calls", "amount": 200_000},
                                 headers=auth("gateway"))
        assert resp.status == 200, await resp.text()
    resp = await client.post("/v1/reservations", json={"signatory": "loiret", "metric": "update_bytes",
                                                       "amount": 10}, headers=auth("gateway"))
    assert resp.status == 201, await resp.text()
    rid = (await resp.json())["id"]
    resp = await client.post(f"/v1/reservations/{rid}/commit", json={"amount": 5}, headers=auth("gateway"))
    assert resp.status == 200, await resp.text()
    resp = await client.post("/v1/reservations", json={"signatory": "loiret", "metric": "update_bytes",
                                                       "amount": 10}, headers=auth("gateway"))
    assert (await client.delete(f"/v1/reservations/{(await resp.json())['id']}", headers=auth("gateway"))).status == 200
    app = client.app
    app[appkeys.CLOCK].set(datetime(2026, 4, 20, 12, 1, 30, tzinfo=UTC))
    jobs = Jobs(app[appkeys.STORES].jobs, app[appkeys.CLOCK], release_expired=None, reconcile=None)
    assert await jobs.flush_denials() == 1
    await wait_written(client)


async def test_every_script_keeps_to_its_pools_slot(client, redis_cluster, pool_id):
    keys = client.app[appkeys.LEDGER].keys
    master = redis_cluster.master_of(keys.stream)
    pool_slot = redis_cluster.slot_of(f"{{{pool_id}}}")
    monitor = Monitor(master.port)
    try:
        await drive_every_script(client)
        master.cli("ECHO", "the end")  # MONITOR's lines come in order: this one comes last
        for _ in range(100):
            if any(args == [b"ECHO", b"the end"] for _, args in monitor.lines):
                break
            threading.Event().wait(0.05)
    finally:
        monitor.close()
    runs = by_script(monitor.lines)
    assert set(SCRIPTS) <= set(runs), f"scripts that did not run on the pool's master: {set(SCRIPTS) - set(runs)}"
    assert not [name for name in runs if name.startswith("(")], f"scripts that are not the service's: {list(runs)}"
    for name, commands in runs.items():
        declared = [k for c in commands if c[0] == b"EVALSHA" for k in c[1:]]
        assert declared, f"{name} declares no key: a cluster would send it to any node"
        touched = set(declared)
        for command in commands:
            if command[0] != b"EVALSHA":
                touched.update(master.getkeys(*command))
        slots = {redis_cluster.slot_of(k.decode()): k for k in touched}
        assert set(slots) == {pool_slot}, (
            f"{name} touches slots {sorted(slots)} (e.g. {[slots[s] for s in slots if s != pool_slot][:3]}), "
            f"not only the pool's {pool_slot}")
