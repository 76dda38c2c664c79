"""GET /metrics after real traffic: Prometheus text that promtool accepts, with counters that moved."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import auth, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
NDJSON = {"Content-Type": "application/x-ndjson", **auth("producer")}


def promtool() -> str:
    """The real promtool (Debian's ``prometheus`` package); ``make test`` installs it."""
    found = shutil.which("promtool") or next(
        (str(p) for p in (Path("/usr/bin/promtool"), Path("/usr/sbin/promtool")) if p.exists()), None)
    if found is None:
        pytest.fail("promtool is not installed: it comes with the Debian package 'prometheus' "
                    "(apt-get install prometheus); `make test` installs it")
    return found


def event(i: int, **changes) -> dict:
    return {"specversion": "1.0", "id": f"m-{i}", "source": "test-metrics", "type": "api.call",
            "time": "2026-04-20T10:00:00Z", "subject": "loiret", "data": {"count": 1}, **changes}


def ndjson(events: list[dict]) -> bytes:
    return "\n".join(json.dumps(e) for e in events).encode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition, by name and labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def post(client, events: list[dict]) -> int:
    resp = await client.post("/v1/events", data=ndjson(events), headers=NDJSON)
    await resp.read()
    return resp.status


async def traffic(client) -> None:
    """Five events accepted, one duplicate, a batch of three refused (one bad event)."""
    assert await post(client, [event(i) for i in range(5)]) == 202
    assert await post(client, [event(0)]) == 202
    assert await post(client, [event(10), event(11, type="api.calls"), event(12)]) == 400
    await wait_written(client)


async def test_metrics_pass_promtool_and_counters_moved(client):
    await traffic(client)
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    check = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, f"promtool check metrics failed:\n{check.stdout}{check.stderr}"
    values = samples(text)
    plain = frozenset()
    assert values["meter_events_ingested_total", plain] == 5
    assert values["meter_events_duplicate_total", plain] == 1
    assert values["meter_events_rejected_total", plain] == 3
    assert values["meter_events_unattributed_total", plain] == 5  # loiret is not registered here
    assert values["meter_rows_written_total", frozenset({("table", "events")})] == 5
    assert values["meter_stream_lag_events", plain] == 0


async def test_promtool_refuses_broken_text():
    """The check is not vacuous: promtool does fail on text that is not the exposition format."""
    bad = "# TYPE meter_x_total counter\nmeter_x_total{ 1\n"
    check = subprocess.run([promtool(), "check", "metrics"], input=bad, capture_output=True, text=True, timeout=30)
    assert check.returncode != 0
