"""Mail exactly once (DESIGN §8, issue 15): a mail server slower per message than the outbox's lock
lives, and two processes delivering at once (plus a second run inside one of them): every report
arrives once, by Message-ID.

The two processes are two apps on the same Redis pool and ClickHouse store, each with its own
connection, lock token and outbox. The server is a real SMTP server on loopback that takes
``DELAY_S`` to answer each message (an asyncio sleep: it serves other connections meanwhile)."""
import asyncio
import email
import time
from collections import Counter
from email.policy import default

import pytest
from aiosmtpd.controller import Controller

from meter.app import create_app
from meter.config.settings import Settings
from meter.http import appkeys
from meter.observability.telemetry import Telemetry
from tests.conftest import REDIS_URL, auth, make_config
from tests.service import free_port

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
LOCK_S = 1.0  # METER_MAIL_LOCK_S
DELAY_S = LOCK_S + 0.5  # each message takes the server longer than the lock lives
PARTNERS = ["alpha", "beta", "gamma"]


class SlowServer:
    """Takes ``delay_s`` before it answers the end of each message; keeps every Message-ID."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.message_ids: list[str] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay_s)
        self.message_ids.append(email.message_from_bytes(envelope.content, policy=default)["Message-ID"])
        return "250 OK"


@pytest.fixture
def slow_smtp():
    server = SlowServer(DELAY_S)
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def settings(tmp_path, slow_smtp):
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10, scheduler=False,
                    smtp_url=f"smtp://127.0.0.1:{slow_smtp.port}", mail_from="meter@pool.example",
                    mail_lock_s=LOCK_S)


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, '[reports]\nadmins = ["admins@pool.example"]\n')


@pytest.fixture
def clock(clock):
    clock.set(clock.now().replace(month=5, day=3))  # April is over
    return clock


async def test_two_processes_and_a_slow_server_deliver_each_report_once(client, aiohttp_client, store, settings,
                                                                        config, clock, slow_smtp):
    other = await aiohttp_client(create_app(settings, config, clock=clock, telemetry=Telemetry(), store=store))
    for sid in PARTNERS:
        body = {"name": sid, "kind": "commune", "joined_at": "2020-01-01", "emails": [f"{sid}@town.example"]}
        resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
        assert resp.status == 201, await resp.text()
    resp = await client.post("/v1/reports/2026-04/send", json={}, headers=auth("admin"))
    assert resp.status == 202 and await resp.json() == {"queued": 4, "skipped": 0}  # + the pool's

    async def statuses() -> dict[str, str]:
        resp = await client.get("/v1/reports/2026-04", headers=auth("admin"))
        return {r["signatory"]: r["status"] for r in (await resp.json())["reports"]}

    async def keep_sending(app) -> None:  # the mail_outbox job of one process, every 0.2 s
        while set((await statuses()).values()) != {"sent"}:
            await app[appkeys.REPORTS].send_queued()
            await asyncio.sleep(0.2)

    started = time.monotonic()
    runs = [keep_sending(client.app), keep_sending(other.app), keep_sending(client.app)]
    await asyncio.wait_for(asyncio.gather(*runs), timeout=60)
    await client.app[appkeys.REPORTS].wait_idle()
    await asyncio.sleep(DELAY_S + 0.5)  # an attempt still under way would be counted too
    per_id = Counter(slow_smtp.message_ids)
    print(f"reports 4, messages received {len(slow_smtp.message_ids)}, distinct {len(per_id)}, "
          f"duplicates {sum(n - 1 for n in per_id.values())}, {time.monotonic() - started:.1f} s")
    assert len(per_id) == 4
    assert all(n == 1 for n in per_id.values()), per_id
