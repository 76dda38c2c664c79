"""``make soak``: the service under mixed load while faults are injected, then its invariants.

Everything runs on loopback in a temporary directory, and every process is stopped by its pid at
the end: the meter (``python -m meter serve``), its own Redis (AOF, ``appendfsync always``), a
ClickHouse server (the tests' HTTP stand-in on chDB: it can be taken away and brought back),
nginx in front with the shipped snippets and a stand-in portal behind, a slow and greylisting
SMTP server, a log writer rotated by the real logrotate, and ``meter collect access-log --follow``.

Load (for SOAK_S seconds, default 180, at most 600): events of every type in every shape (one
CloudEvent, batches, JSON, NDJSON, gzip), consuming checks (single and arrays, with ids),
reservations then commits or releases, ``/v1/authz`` through nginx, reads (usage, pool, history,
reports, alerts), and a monthly report run. A producer retries a batch until it gets a 2xx, as
the collectors do; a check answered in a degraded mode is asked again with the same id.

Faults, at fixed fractions of the run: kill -9 of the meter in the middle of a report delivery
(restarted at once, as systemd would), the SMTP server away, Redis killed with -9 and later
restarted cleanly, ClickHouse away (inserts fail) for a tenth of the run, log rotations by rename
(with delaycompress) and by copytruncate.

Then, after the load stops and the backlog drains (bounded), the invariants, printed as a table:
every event that got a 2xx counted once in Redis and once in ClickHouse (no row twice); consumed
checks, commits, authz and log lines likewise; every report delivered once by Message-ID; no 5xx
but 503; the meter's RSS at the end within 20 % of its level after warm-up (both read under the
same load, in the last incarnation of the process). Exit 1 when one fails.

    .venv/bin/python scripts/soak.py [--seconds N] [--json]   (make soak; SOAK_S=N)
"""
from __future__ import annotations

import argparse
import asyncio
import email
import gzip
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import redis as redis_sync  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from tests.clickhouse_http import StandIn  # noqa: E402
from tests.nginx import FakePortal, Nginx  # noqa: E402
from tests.service import free_port  # noqa: E402

TOKENS = {"admin": "soak-admin-token", "gateway": "soak-gateway-token", "producer": "soak-producer-token",
          "reader": "soak-reader-token"}
MAX_S = 600
DRAIN_S = 180  # after the load: how long the backlog, the collector and the mail may take to settle
RSS_TOLERANCE = 0.20
RSS_MIN_S = 120
SIGNATORIES = {  # id: hosts; every one has a mailbox, so every report is mailed
    "ev": [], "chk": [], "resv": [], "gw": ["gw.data.example"], "logs": ["log.data.example"], "quiet": [],
}
LOG = {"phase": "start"}


def say(msg: str) -> None:
    print(f"soak: {msg}", file=sys.stderr, flush=True)


# --- the parts ---------------------------------------------------------------------------------

class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port, self.dir = free_port(), workdir
        workdir.mkdir(parents=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis_sync.exceptions.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer")

    def client(self) -> redis_sync.Redis:
        return redis_sync.Redis(port=self.port, socket_timeout=5, decode_responses=True)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: a clean shutdown (the AOF is flushed)
            self.proc.wait(30)


class Meter:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "meter.log"
        self.env = {**os.environ, **env, "METER_HTTP_PORT": str(self.port), "METER_LOG_LEVEL": "WARNING"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.incarnation = 0
        self.restarting = False  # killed on purpose, coming back

    def start(self, timeout: float = 120) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "meter", "serve"], cwd=ROOT, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.incarnation += 1
        self.started_at = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the meter exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the meter was not ready in {timeout} s")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def rss_mib(self) -> float | None:
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


@dataclass
class Mailbox:
    """The SMTP server's side: slow (``delay_s`` per message), greylisting (the first attempt of each
    Message-ID gets 451), and every accepted message kept by Message-ID."""

    delay_s: float = 1.5
    tried: set[str] = field(default_factory=set)
    accepted: list[tuple[str, str]] = field(default_factory=list)  # (Message-ID, X-Meter-Report)
    greylisted: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        msg = email.message_from_bytes(envelope.content, policy=email_policy)
        mid = str(msg.get("Message-ID", ""))
        if mid not in self.tried:
            self.tried.add(mid)
            self.greylisted += 1
            return "451 4.7.1 greylisted, try again later"
        await asyncio.sleep(self.delay_s)
        self.accepted.append((mid, str(msg.get("X-Meter-Report", ""))))
        return "250 OK"


class Smtp:
    def __init__(self) -> None:
        self.port, self.box = free_port(), Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class LogWriter:
    """Writes two JSON access logs as nginx does (one append-only descriptor each, reopened after a
    rename), metered lines and others. ``renamed.log`` is rotated by rename (``nocreate``,
    ``compress``, ``delaycompress``), ``copied.log`` by ``copytruncate`` (``compress``,
    ``delaycompress``), both by the real logrotate with the writer held still meanwhile: lines
    written between copytruncate's copy and its truncation are lost by logrotate itself, not by
    the collector."""

    CONFIGS = {"renamed": ("nocreate", "compress", "delaycompress"),
               "copied": ("copytruncate", "compress", "delaycompress")}

    def __init__(self, workdir: Path, rate: float) -> None:
        workdir.mkdir(parents=True)
        self.dir = workdir
        self.paths = {name: workdir / f"{name}.log" for name in self.CONFIGS}
        self.rate, self.metered, self.other = rate, 0, 0
        self.lock = threading.Lock()
        self.fds = {name: self._open(name) for name in self.CONFIGS}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self.logrotate = shutil.which("logrotate", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        self.rotations: list[str] = []

    def _open(self, name: str) -> int:
        return os.open(self.paths[name], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _line(self, metered: bool) -> bytes:
        rid = uuid.uuid4().hex
        uri = "/api/explore/v2.1/catalog/datasets/logs-ds/records?limit=10" if metered else "/explore/dataset/x/"
        return json.dumps({"time": datetime.now(UTC).isoformat(timespec="seconds"), "request_id": rid,
                           "host": "log.data.example", "method": "GET", "uri": uri, "status": 200,
                           "bytes_sent": 512}).encode() + b"\n"

    def _run(self) -> None:
        while not self.stop.wait(10 / self.rate):
            with self.lock:
                for fd in self.fds.values():
                    lines = []
                    for _ in range(5):
                        metered = random.random() < 0.9
                        lines.append(self._line(metered))
                        self.metered += metered
                        self.other += not metered
                    os.write(fd, b"".join(lines))

    def rotate(self, name: str) -> None:
        assert self.logrotate, "logrotate is needed (scripts/test-deps.sh installs it)"
        conf = self.dir / f"{name}.logrotate.conf"
        conf.write_text(f"{self.paths[name]} {{\n  rotate 20\n  missingok\n  "
                        + "\n  ".join(self.CONFIGS[name]) + "\n}\n")
        with self.lock:
            subprocess.run([self.logrotate, "-f", "-s", str(self.dir / f"{name}.logrotate.state"), str(conf)],
                           check=True, timeout=60)
            if name == "renamed":
                os.close(self.fds[name])  # nginx -s reopen
                self.fds[name] = self._open(name)
        self.rotations.append(name)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


# --- the load ----------------------------------------------------------------------------------

@dataclass
class Tally:
    http: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, status or error) -> n
    events: dict[str, tuple[str, int]] = field(default_factory=dict)  # acked id -> (type, amount)
    datasets: dict[str, int] = field(default_factory=dict)  # acked snapshot's dataset -> records
    deleted: set[str] = field(default_factory=set)
    objects: dict[str, int] = field(default_factory=dict)
    resent: int = 0  # batches sent again after their 202 (duplicates by design)
    retried: int = 0  # batches sent again after no answer, a 5xx or a 503
    checks: int = 0  # consumed and allowed, answered without a degraded mode
    degraded: int = 0
    committed: int = 0
    commits: int = 0
    released: int = 0
    unresolved: int = 0  # work still unanswered when the drain ended


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Load:
    def __init__(self, meter: Meter, nginx: Nginx, month: str, stop: asyncio.Event, hard: asyncio.Event) -> None:
        self.meter, self.nginx, self.month = meter, nginx, month
        self.stop, self.hard = stop, hard  # stop: no new work; hard: give up on what is unanswered
        self.t = Tally()
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"s{self.n}-{uuid.uuid4().hex[:8]}"

    async def call(self, session: aiohttp.ClientSession, kind: str, method: str, url: str,
                   **kw: Any) -> tuple[int | None, Any]:
        try:
            async with session.request(method, url, **kw) as resp:
                body = await resp.read()
                self.t.http[(kind, str(resp.status))] += 1
                try:
                    return resp.status, json.loads(body) if body else None
                except ValueError:
                    return resp.status, None
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            self.t.http[(kind, type(err).__name__)] += 1
            return None, None

    def _event(self) -> tuple[dict[str, Any], tuple[str, int], tuple[str, str, int] | None]:
        """(event, (type, amount), stock change)"""
        kind = random.choices(["api.call", "update.bytes", "dataset.records", "content.bytes", "dataset.deleted"],
                              [50, 20, 15, 10, 5])[0]
        eid = self._id()
        base = {"specversion": "1.0", "id": eid, "source": "soak", "type": kind, "time": now_iso(), "subject": "ev"}
        if kind == "dataset.deleted":
            alive = [d for d in self.t.datasets if d not in self.t.deleted]
            if alive:
                ds = random.choice(alive)
                return {**base, "data": {"dataset": ds}}, (kind, 0), ("deleted", ds, 0)
            kind = base["type"] = "api.call"
        if kind == "api.call":
            n = random.randint(1, 3)
            return {**base, "data": {"dataset": f"ds-{random.randint(1, 50)}", "count": n}}, (kind, n), None
        if kind == "update.bytes":
            n = random.randint(1, 1 << 20)
            return {**base, "data": {"bytes": n, "kind": "data"}}, (kind, n), None
        if kind == "dataset.records":
            ds, n = f"evds-{eid}", random.randint(0, 100_000)
            return {**base, "data": {"dataset": ds, "records": n, "raw_bytes": n * 100}}, (kind, n), ("ds", ds, n)
        obj, n = f"obj-{eid}", random.randint(0, 1 << 24)
        return {**base, "data": {"object": obj, "bytes": n}}, (kind, n), ("obj", obj, n)

    def _shape(self, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
        shape = random.choice(["single", "batch", "json", "ndjson", "ndjson-gzip"] if len(events) == 1
                              else ["batch", "json", "ndjson", "ndjson-gzip"])
        if shape == "single":
            return json.dumps(events[0]).encode(), {"Content-Type": "application/cloudevents+json"}
        if shape == "batch":
            return json.dumps(events).encode(), {"Content-Type": "application/cloudevents-batch+json"}
        if shape == "json":
            body = events[0] if len(events) == 1 and random.random() < 0.5 else events
            return json.dumps(body).encode(), {"Content-Type": "application/json"}
        nd = "\n".join(json.dumps(e) for e in events).encode()
        if shape == "ndjson":
            return nd, {"Content-Type": "application/x-ndjson"}
        return gzip.compress(nd), {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}

    async def producer(self, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {TOKENS['producer']}"}
        acked: list[tuple[bytes, dict[str, str]]] = []
        while not self.stop.is_set():
            made = [self._event() for _ in range(random.choice([1, 1, 5, 20, 50]))]
            deleted = {c[1] for _, _, c in made if c and c[0] == "deleted"}
            body, h = self._shape([e for e, _, _ in made])
            while True:
                status, answer = await self.call(session, "events", "POST", f"{self.meter.url}/v1/events",
                                                 data=body, headers={**headers, **h})
                if status == 202:
                    break
                if status == 400 or self.hard.is_set():
                    if status != 400:
                        self.t.unresolved += 1
                    break
                self.t.retried += 1
                await asyncio.sleep(0.5)
            if status != 202:
                continue
            for ev, (kind, amount), change in made:
                self.t.events[ev["id"]] = (kind, amount)
                if change and change[0] == "ds":
                    self.t.datasets[change[1]] = change[2]
                elif change and change[0] == "obj":
                    self.t.objects[change[1]] = change[2]
            self.t.deleted |= deleted
            acked.append((body, h))
            if random.random() < 0.05 and acked:  # a producer sending a batch again: duplicates
                again = random.choice(acked)
                if (await self.call(session, "events", "POST", f"{self.meter.url}/v1/events", data=again[0],
                                    headers={**headers, **again[1]}))[0] == 202:
                    self.t.resent += 1
            await asyncio.sleep(random.uniform(0.05, 0.3))

    async def checker(self, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {TOKENS['gateway']}"}
        while not self.stop.is_set():
            asks = [{"signatory": "chk", "metric": "api_calls", "amount": 1, "id": self._id(), "dataset": "chk-ds"}
                    for _ in range(random.choice([1, 1, 1, 3]))]
            body: Any = asks[0] if len(asks) == 1 else asks
            while True:
                status, answer = await self.call(session, "check", "POST", f"{self.meter.url}/v1/check",
                                                 json=body, headers=headers)
                if status == 200:
                    answers = answer if isinstance(answer, list) else [answer]
                    if not any(a.get("reason", "").startswith("degraded") for a in answers):
                        self.t.checks += sum(bool(a["allowed"]) for a in answers)
                        break
                    self.t.degraded += 1
                if self.hard.is_set():
                    self.t.unresolved += 1
                    break
                await asyncio.sleep(0.5)  # asked again with the same ids: counted once
            await asyncio.sleep(random.uniform(0.02, 0.1))

    async def reserver(self, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {TOKENS['gateway']}"}
        while not self.stop.is_set():
            status, answer = await self.call(session, "reservations", "POST", f"{self.meter.url}/v1/reservations",
                                             json={"signatory": "resv", "metric": "update_bytes", "amount": 10_000},
                                             headers=headers)
            if status != 201:  # no answer: a reservation that may exist holds capacity until it expires
                await asyncio.sleep(0.5)
                continue
            rid = answer["id"]
            await asyncio.sleep(random.uniform(0.01, 0.2))  # the upload
            release = random.random() < 0.1
            amount = random.randint(1, 10_000)
            ambiguous = False
            while True:
                if release:
                    status, _ = await self.call(session, "reservations", "DELETE",
                                                f"{self.meter.url}/v1/reservations/{rid}", headers=headers)
                else:
                    status, _ = await self.call(session, "reservations", "POST",
                                                f"{self.meter.url}/v1/reservations/{rid}/commit",
                                                json={"amount": amount}, headers=headers)
                if status in (200, 204) or (status == 404 and ambiguous):  # 404 after a failure: it was done
                    if release:
                        self.t.released += 1
                    else:
                        self.t.commits += 1
                        self.t.committed += amount
                    break
                if status is not None and status < 500:
                    break  # refused: nothing committed
                if self.hard.is_set():
                    self.t.unresolved += 1
                    break
                ambiguous = True  # no answer, or a 503 from a meter whose Redis went away after the write
                await asyncio.sleep(0.5)
            await asyncio.sleep(random.uniform(0.05, 0.2))

    async def gateway_client(self, session: aiohttp.ClientSession) -> None:
        url = f"http://127.0.0.1:{self.nginx.port}/api/explore/v2.1/catalog/datasets/gw-ds/records?limit=1"
        while not self.stop.is_set():
            await self.call(session, "nginx", "GET", url, headers={"Host": "gw.data.example"})
            await asyncio.sleep(random.uniform(0.02, 0.1))

    async def reader(self, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {TOKENS['reader']}"}
        paths = ["/v1/usage?signatory=ev", "/v1/pool", f"/v1/usage?signatory=gw&period={self.month}",
                 f"/v1/pool?period={self.month}", f"/v1/reports/{self.month}", "/v1/alerts", "/v1/signatories",
                 f"/v1/reports/{self.month}/chk?format=json", "/v1/allocations"]
        while not self.stop.is_set():
            await self.call(session, "reads", "GET", self.meter.url + random.choice(paths), headers=headers)
            await asyncio.sleep(random.uniform(0.2, 0.5))


# --- the run -----------------------------------------------------------------------------------

@dataclass
class Fault:
    at: float
    what: str
    detail: str = ""


class Soak:
    def __init__(self, seconds: float, workdir: Path) -> None:
        self.seconds, self.dir = seconds, workdir
        self.pool = f"soak-{uuid.uuid4().hex[:8]}"
        today = datetime.now(UTC).date()
        last = today.replace(day=1).toordinal() - 1
        self.month = datetime.fromordinal(last).strftime("%Y-%m")
        self.faults: list[Fault] = []
        self.rss: list[tuple[float, int, float]] = []  # (time in the run, incarnation, MiB)
        self.started = 0.0
        self.meter_exits: list[str] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, what: str, detail: str = "") -> None:
        self.faults.append(Fault(round(self.elapsed(), 1), what, detail))
        say(f"{self.elapsed():6.1f} s  {what} {detail}")

    def pool_toml(self) -> str:
        tokens = "".join(f'[[tokens]]\nrole = "{r}"\ntoken = "{t}"\n' for r, t in TOKENS.items())
        return f"""[pool]
id = "{self.pool}"
name = "Soak"
timezone = "Europe/Paris"
[caps]
api_calls = 1000000000000
update_bytes = 1000000000000000
records = 1000000000000
raw_bytes = 1000000000000000
content_bytes = 1000000000000000
dataset_records = 1000000000000
[reports]
auto_send = false
admins = ["admins@soak.example"]
language = "fr"
{tokens}"""

    async def run(self) -> int:
        d = self.dir
        (d / "pool.toml").write_text(self.pool_toml())
        redis_server = RedisServer(d / "redis")
        ch = StandIn(d / "clickhouse" / "chdb")
        (d / "clickhouse").mkdir()
        smtp = Smtp()
        portal = FakePortal()
        writer = LogWriter(d / "logs", rate=80)
        meter = Meter(d, {"METER_CONFIG": str(d / "pool.toml"), "METER_DATA_DIR": str(d / "data"),
                          "METER_CLICKHOUSE_URL": "", "METER_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
                          "METER_MAIL_FROM": "meter@soak.example"})
        nginx: Nginx | None = None
        collector: subprocess.Popen[bytes] | None = None
        try:
            redis_server.start()
            ch.start()
            smtp.start()
            portal.__enter__()
            meter.env.update(METER_REDIS_URL=redis_server.url, METER_CLICKHOUSE_URL=ch.url)
            await asyncio.to_thread(meter.start)
            nginx = Nginx(d / "nginx", meter.port, TOKENS["gateway"], portal.port).start()
            await self.register(meter)
            writer.thread.start()
            collector = subprocess.Popen(
                [sys.executable, "-m", "meter", "collect", "access-log", "--follow", "--url", meter.url,
                 "--state", str(d / "collector"), *map(str, writer.paths.values())], cwd=ROOT,
                env={**os.environ, "METER_TOKEN": TOKENS["producer"]},
                stdout=open(d / "collector.out", "wb"), stderr=open(d / "collector.err", "wb"))  # noqa: SIM115
            return await self.drive(meter, redis_server, ch, smtp, writer, nginx, collector)
        finally:
            if collector is not None and collector.poll() is None:
                collector.kill()
                collector.wait(10)
            if writer.fds:
                writer.close()
            meter.stop()
            if nginx is not None:
                nginx.stop()
            portal.__exit__()
            smtp.stop()
            ch.stop()
            redis_server.stop()

    async def register(self, meter: Meter) -> None:
        async with aiohttp.ClientSession() as s:
            for sid, hosts in SIGNATORIES.items():
                body = {"name": f"Soak {sid}", "kind": "other", "hosts": hosts, "emails": [f"{sid}@soak.example"],
                        "joined_at": "2020-01-01"}
                async with s.put(f"{meter.url}/v1/signatories/{sid}", json=body,
                                 headers={"Authorization": f"Bearer {TOKENS['admin']}"}) as resp:
                    assert resp.status in (200, 201), await resp.text()

    async def drive(self, meter: Meter, rds: RedisServer, ch: StandIn, smtp: Smtp, writer: LogWriter,
                    nginx: Nginx, collector: subprocess.Popen[bytes]) -> int:
        stop, hard = asyncio.Event(), asyncio.Event()
        load = Load(meter, nginx, self.month, stop, hard)
        T = self.seconds
        self.started = time.monotonic()
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15)) as s:
            workers = ([load.producer(s) for _ in range(2)] + [load.checker(s) for _ in range(2)]
                       + [load.reserver(s)] + [load.gateway_client(s) for _ in range(2)] + [load.reader(s)])
            tasks = [asyncio.create_task(w) for w in workers]
            sampler = asyncio.create_task(self.sample_rss(meter, stop))
            admin = {"Authorization": f"Bearer {TOKENS['admin']}"}

            async def at(fraction: float) -> None:
                await asyncio.sleep(max(0.0, fraction * T - self.elapsed()))

            async def send_reports(label: str) -> None:
                status, answer = await load.call(s, "reports", "POST", f"{meter.url}/v1/reports/{self.month}/send",
                                                 json={}, headers=admin)
                self.note(f"report run ({label})", f"{self.month}: {status} {answer}")

            async def restart_meter() -> None:
                meter.restarting = True
                meter.kill9()
                self.note("kill -9 meter", f"(incarnation {meter.incarnation}, in the middle of a delivery: "
                          f"{len(smtp.box.accepted)} messages accepted so far)")
                await asyncio.to_thread(meter.start)
                meter.restarting = False
                self.note("meter back", f"ready {time.monotonic() - meter.started_at:.1f} s after its start")

            await at(0.05)
            await send_reports("1: greylisted")
            await at(0.17)
            smtp.stop()
            self.note("SMTP server away", "(the outbox's retry 30 s after the greylisting fails)")
            await at(0.25)
            smtp.start()
            self.note("SMTP server back")
            await at(0.27)
            await send_reports("2: an operator's retry")
            await asyncio.sleep(min(4.0, 0.03 * T))
            await restart_meter()
            rotations = {0.30: "renamed", 0.36: "copied", 0.50: "renamed", 0.60: "copied", 0.72: "renamed",
                         0.80: "copied", 0.88: "renamed", 0.90: "copied"}
            faults = {0.56: "redis-kill", 0.65: "clickhouse-away", 0.75: "clickhouse-back", 0.84: "redis-restart"}
            for when in sorted({**rotations, **faults}):
                await at(when)
                if when in rotations:
                    await asyncio.to_thread(writer.rotate, rotations[when])
                    self.note(f"log rotated by {'rename' if rotations[when] == 'renamed' else 'copytruncate'}",
                              f"({rotations[when]}.log, compress, delaycompress)")
                elif faults[when] == "redis-kill":
                    rds.kill9()
                    self.note("kill -9 Redis", "(AOF, appendfsync always)")
                    await asyncio.sleep(3)
                    await asyncio.to_thread(rds.start)
                    self.note("Redis back")
                elif faults[when] == "clickhouse-away":
                    await asyncio.to_thread(ch.stop)
                    self.note("ClickHouse away", "(inserts and history reads fail)")
                elif faults[when] == "clickhouse-back":
                    await asyncio.to_thread(ch.start)
                    self.note("ClickHouse back")
                else:
                    await asyncio.to_thread(rds.stop)
                    self.note("Redis stopped (SIGTERM)")
                    await asyncio.to_thread(rds.start)
                    self.note("Redis back")
            await at(1.0)
            stop.set()
            writer.close()
            self.note("load stopped", f"draining (at most {DRAIN_S} s)")
            await asyncio.wait_for(sampler, 30)
            done = await self.drain(meter, rds, load, writer, s, tasks)
            hard.set()
            await asyncio.gather(*tasks)
        collector.send_signal(signal.SIGTERM)
        collector.wait(60)
        self.note("drained" if done else "drain timed out")
        return self.report(load, meter, rds, ch, smtp, writer, collector)

    async def sample_rss(self, meter: Meter, stop: asyncio.Event) -> None:
        """Every second: the meter's RSS; and a meter that exited by itself is noted and restarted."""
        while not stop.is_set():
            if meter.proc is not None and meter.proc.poll() is not None and not meter.restarting:
                self.meter_exits.append(f"exit {meter.proc.returncode} at {self.elapsed():.0f} s")
                self.note("the meter exited by itself", f"({meter.proc.returncode}): restarted")
                await asyncio.to_thread(meter.start)
            rss = meter.rss_mib()
            if rss is not None:
                self.rss.append((self.elapsed() / self.seconds, meter.incarnation, rss))
            await asyncio.sleep(1)

    async def drain(self, meter: Meter, rds: RedisServer, load: Load, writer: LogWriter,
                    s: aiohttp.ClientSession, tasks: list[asyncio.Task[None]]) -> bool:
        deadline = time.monotonic() + DRAIN_S
        reader = {"Authorization": f"Bearer {TOKENS['reader']}"}
        while time.monotonic() < deadline:
            try:
                r = rds.client()
                backlog = int(r.get(f"meter:{{{self.pool}}}:backlog") or 0)
                logs = self.redis_flow(r, "api_calls").get("logs", 0)
            except redis_sync.exceptions.RedisError:
                backlog, logs = -1, -1
            status, answer = await load.call(s, "drain", "GET", f"{meter.url}/v1/reports/{self.month}",
                                             headers=reader)
            reports = answer["reports"] if status == 200 else []
            unsent = [r for r in reports if r["status"] != "sent"]
            if backlog == 0 and logs == writer.metered and reports and not unsent and all(t.done() for t in tasks):
                return True
            await asyncio.sleep(1)
        return False

    def redis_flow(self, r: redis_sync.Redis, metric: str) -> dict[str, int]:
        total: dict[str, int] = defaultdict(int)
        for key in r.scan_iter(match=f"meter:{{{self.pool}}}:flow:{metric}:*", count=1000):
            for sig, value in r.hgetall(key).items():
                total[sig] += int(value)
        return total

    def clickhouse(self, ch: StandIn, sql: str) -> list[dict[str, Any]]:
        req = urllib.request.Request(f"http://127.0.0.1:{ch.port}/?database=meter&default_format=JSONEachRow",
                                     data=sql.encode(), method="POST",
                                     headers={"X-ClickHouse-User": ch.user, "X-ClickHouse-Key": ch.password})
        with urllib.request.urlopen(req, timeout=60) as answer:
            return [json.loads(line) for line in answer.read().splitlines() if line.strip()]

    def report(self, load: Load, meter: Meter, rds: RedisServer, ch: StandIn, smtp: Smtp, writer: LogWriter,
               collector: subprocess.Popen[bytes]) -> int:
        t = load.t
        r = rds.client()
        calls, written = self.redis_flow(r, "api_calls"), self.redis_flow(r, "update_bytes")
        stock = {m: int(r.hget(f"meter:{{{self.pool}}}:stock:{m}", "ev") or 0) for m in ("records", "content_bytes")}
        rows = {(x["signatory"], x["type"]): x for x in self.clickhouse(ch, (
            f"SELECT signatory, type, count() AS n, uniqExact(source, id) AS ids, sum(amount) AS amount "
            f"FROM events WHERE pool = '{self.pool}' GROUP BY signatory, type"))}

        def ch_of(sig: str, kind: str) -> tuple[int, int, int]:
            x = rows.get((sig, kind), {})
            return int(x.get("n", 0)), int(x.get("ids", 0)), int(x.get("amount", 0))

        table: list[tuple[str, str, str, str, bool]] = []  # invariant, sent, counted, other, ok

        def row(name: str, sent: int, redis_n: int | None, ch_n: int, rows_n: int, ids: int, note: str = "") -> None:
            ok = (redis_n is None or redis_n == sent) and ch_n == sent and rows_n == ids
            counted = (f"Redis {redis_n:,}, " if redis_n is not None else "") + f"ClickHouse {ch_n:,}"
            table.append((name, f"{sent:,}", counted, f"rows {rows_n:,}, distinct {ids:,}" + note, ok))

        by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for kind, amount in t.events.values():
            by_type[kind][0] += 1
            by_type[kind][1] += amount
        n, ids, amount = ch_of("ev", "api.call")
        row("events api.call: calls", by_type["api.call"][1], calls.get("ev", 0), amount, n, ids,
            f"; events {by_type['api.call'][0]:,}")
        n, ids, amount = ch_of("ev", "update.bytes")
        row("events update.bytes: bytes", by_type["update.bytes"][1], written.get("ev", 0), amount, n, ids,
            f"; events {by_type['update.bytes'][0]:,}")
        for kind in ("dataset.records", "content.bytes", "dataset.deleted"):
            n, ids, _ = ch_of("ev", kind)
            row(f"events {kind}: events", by_type[kind][0], None, n, n, ids)
        records = sum(v for ds, v in t.datasets.items() if ds not in t.deleted)
        table.append(("stocks records / content_bytes (Redis)", f"{records:,} / {sum(t.objects.values()):,}",
                      f"Redis {stock['records']:,} / {stock['content_bytes']:,}", "",
                      stock["records"] == records and stock["content_bytes"] == sum(t.objects.values())))
        n, ids, amount = ch_of("chk", "api.call")
        row("consuming checks (allowed)", t.checks, calls.get("chk", 0), amount, n, ids,
            f"; degraded answers asked again {t.degraded:,}")
        n, ids, amount = ch_of("resv", "update.bytes")
        row("reservation commits: bytes", t.committed, written.get("resv", 0), amount, n, ids,
            f"; commits {t.commits:,}, released {t.released:,}")
        n, ids, amount = ch_of("gw", "api.call")
        nginx_ok = t.http[("nginx", "200")]
        table.append(("authz through nginx: Redis = ClickHouse", f"{nginx_ok:,} answered 200",
                      f"Redis {calls.get('gw', 0):,}, ClickHouse {amount:,}", f"rows {n:,}, distinct {ids:,}",
                      calls.get("gw", 0) == amount and n == ids and 0 < amount <= nginx_ok))
        n, ids, amount = ch_of("logs", "api.call")
        summary = "; ".join(line.split(" from ")[0] for line in (self.dir / "collector.out").read_text().splitlines())
        row("access-log lines metered", writer.metered, calls.get("logs", 0), amount, n, ids,
            f"; rotations {len(writer.rotations)}; collector: {summary}")
        # reports: every one sent, each by one Message-ID, received at least once
        reports = self.reports_state(meter)
        by_report: dict[str, set[str]] = defaultdict(set)
        received: Counter[str] = Counter()
        for mid, rep in smtp.box.accepted:
            by_report[rep].add(mid)
            received[mid] += 1
        expected = {f"{self.pool}/{self.month}/{x['signatory']}": x for x in reports}
        sent_ok = all(x["status"] == "sent" and x.get("message_id") and received[x["message_id"]] >= 1
                      for x in reports)
        one_id = all(len(by_report[k]) == 1 for k in expected) and set(by_report) <= set(expected)
        duplicates = sum(received.values()) - len(received)
        table.append(("reports delivered once by Message-ID", f"{len(expected)} reports",
                      f"{len(received)} Message-IDs delivered, {sum(received.values())} messages",
                      f"duplicates {duplicates}, greylisted {smtp.box.greylisted}",
                      bool(expected) and sent_ok and one_id))
        # no 5xx but 503
        bad = {k: v for k, v in t.http.items() if k[1].isdigit() and int(k[1]) >= 500 and k[1] != "503"}
        codes = Counter()
        for (_kind, status), v in t.http.items():
            codes[status if status.isdigit() else "no answer"] += v
        table.append(("no 5xx but 503", f"{sum(t.http.values()):,} requests",
                      ", ".join(f"{k}: {v:,}" for k, v in sorted(codes.items())),
                      "; ".join(f"{k[0]} {k[1]}: {v}" for k, v in bad.items()) or "none", not bad))
        # RSS
        last = meter.incarnation
        base = [m for f, inc, m in self.rss if inc == last and 0.48 <= f <= 0.55]
        end = [m for f, inc, m in self.rss if inc == last and f >= 0.92]
        if self.seconds < RSS_MIN_S:
            table.append(("meter RSS at the end vs after warm-up", "-", "-",
                          f"not checked: a run shorter than {RSS_MIN_S} s has no warm-up to compare with", True))
        elif base and end:
            b, e = statistics.median(base), statistics.median(end)
            table.append(("meter RSS at the end vs after warm-up", f"{b:.1f} MiB", f"{e:.1f} MiB",
                          f"{(e / b - 1) * 100:+.1f} % (medians of {len(base)} and {len(end)} samples)",
                          abs(e / b - 1) <= RSS_TOLERANCE))
        else:
            table.append(("meter RSS at the end vs after warm-up", "-", "-", "no samples", False))
        exits = [f"unexpected exits: {', '.join(self.meter_exits)}"] if self.meter_exits else []
        table.append(("meter process", f"{meter.incarnation} incarnations", "; ".join(exits) or "no crash",
                      f"unresolved requests {t.unresolved}; batches retried {t.retried:,}, resent {t.resent:,}",
                      not self.meter_exits and t.unresolved == 0 and collector.returncode == 0))
        self.print(table)
        return 0 if all(ok for *_, ok in table) else 1

    def reports_state(self, meter: Meter) -> list[dict[str, Any]]:
        req = urllib.request.Request(f"{meter.url}/v1/reports/{self.month}",
                                     headers={"Authorization": f"Bearer {TOKENS['reader']}"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read())["reports"]

    def print(self, table: list[tuple[str, str, str, str, bool]]) -> None:
        print(f"\nsoak: {self.seconds:.0f} s of load, pool {self.pool}, report month {self.month}\n")
        print("| at (s) | fault | detail |\n| ---: | --- | --- |")
        for f in self.faults:
            print(f"| {f.at} | {f.what} | {f.detail} |")
        print("\n| invariant | sent | counted | detail | result |\n| --- | ---: | --- | --- | --- |")
        for name, sent, counted, other, ok in table:
            print(f"| {name} | {sent} | {counted} | {other} | {'ok' if ok else 'FAILED'} |")
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_S") or 180))
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs) afterwards")
    args = parser.parse_args()
    if not 10 <= args.seconds <= MAX_S:
        print(f"soak: SOAK_S must be between 10 and {MAX_S} seconds", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="meter-soak-"))
    say(f"{args.seconds:.0f} s of load, working in {workdir}")
    try:
        return asyncio.run(Soak(args.seconds, workdir).run())
    finally:
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
