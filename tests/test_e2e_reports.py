"""End to end: the real service sends a month's reports to a real SMTP server, is killed with
SIGKILL in the middle, and restarts: every partner gets its report once (a message the server
took just before the kill may come twice, with the same Message-ID, which mail clients show once).
The command line (``meter reports send``) drives the second half, as an admin would."""
import json
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from tests.conftest import TOKENS, pool_toml
from tests.service import ROOT, Service

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}", "Content-Type": "application/json"}
PARTNERS = [f"town-{i:02d}" for i in range(12)]


def last_month() -> str:
    now = datetime.now(UTC)
    return f"{now.year - (now.month == 1)}-{(now.month - 2) % 12 + 1:02d}"


@pytest.fixture
def pool(tmp_path, pool_id, redis_client):
    path = tmp_path / "pool.toml"
    path.write_text(pool_toml(pool_id, '[reports]\nadmins = ["admins@pool.example"]\nauto_send = false\n'))
    return path


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_sigkill_mid_sending_then_restart_sends_each_report_once(tmp_path, pool, smtp):
    svc = Service(pool, tmp_path / "data", METER_SMTP_URL=smtp.url, METER_MAIL_FROM="meter@pool.example").start()
    try:
        for sid in PARTNERS:
            body = {"name": sid, "kind": "commune", "joined_at": "2020-01-01", "emails": [f"{sid}@town.example"]}
            assert svc.request("PUT", f"/v1/signatories/{sid}", json.dumps(body).encode(), ADMIN)[0] == 201
        smtp.catcher.delay_s = 0.3
        month = last_month()
        status, body = svc.json("POST", f"/v1/reports/{month}/send", body=b"{}", headers=ADMIN)
        assert status == 202 and body == {"queued": 13, "skipped": 0}
        wait_for(lambda: len(smtp.catcher.received) >= 4)
        svc.kill9()
        assert len(smtp.catcher.received) < 13, "the service must die while it is still sending"
        smtp.catcher.delay_s = 0
        svc.start()
        cli = subprocess.run([sys.executable, "-m", "meter", "reports", "send", month, "--url", svc.url,
                              "--token", TOKENS["admin"], "--wait", "120"], cwd=ROOT, capture_output=True,
                             text=True, timeout=180)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "13 sent" in cli.stdout
    finally:
        svc.stop()
    ids = defaultdict(set)
    copies = 0
    for received in smtp.catcher.received:
        for rcpt in received.recipients:
            ids[rcpt].add(received.message["Message-ID"])
        copies += 1
    assert set(ids) == {f"{sid}@town.example" for sid in PARTNERS} | {"admins@pool.example"}
    assert all(len(found) == 1 for found in ids.values()), ids
    assert copies <= 14  # at most the one message in flight at the kill went twice
