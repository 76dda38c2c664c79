"""The scheduled monthly send, driven by an injected clock: due on send_day at send_time (pool
time), caught up later in the same month after a stop, never for an older month, once per month,
and only after the writer has copied the month into ClickHouse."""
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from meter.config.settings import Settings
from meter.core.periods import Period
from meter.http import appkeys
from meter.reports.figures import days_of
from meter.reports.schedule import due_month, run_scheduled
from tests.conftest import REDIS_URL, auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
UTC = UTC
SCHEDULE = '[reports]\nsend_day = 2\nsend_time = "07:00"\nadmins = ["admins@pool.example"]\n'


def test_due_from_send_day_and_time_in_pool_time():
    config = make_config("sched", SCHEDULE)
    assert due_month(datetime(2026, 12, 2, 5, 59, tzinfo=UTC), config) is None  # 06:59 in Paris
    assert due_month(datetime(2026, 12, 2, 6, 0, tzinfo=UTC), config).label == "2026-11"  # 07:00 in Paris
    assert due_month(datetime(2026, 12, 24, 6, 0, tzinfo=UTC), config).label == "2026-11"  # caught up later
    assert due_month(datetime(2026, 4, 2, 5, 0, tzinfo=UTC), config).label == "2026-03"  # summer time: 07:00
    assert due_month(datetime(2026, 4, 2, 4, 59, tzinfo=UTC), config) is None


def test_a_dst_month_has_its_local_days_and_hours():
    march = Period("month", date(2026, 3, 1), ZoneInfo("Europe/Paris"))
    assert len(days_of(march)) == 31 and march.seconds == 743 * 3600


@pytest.fixture
def settings(tmp_path, smtp):
    return Settings(redis_url=REDIS_URL, data_dir=tmp_path, writer_block_ms=20, writer_pace_ms=10, scheduler=False,
                    smtp_url=smtp.url)


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, SCHEDULE)


async def test_the_scheduled_run_sends_last_month_once_after_the_writer(client, clock, smtp):
    clock.set(datetime(2026, 11, 20, 12, tzinfo=UTC))
    body = {"name": "Alpha", "kind": "commune", "joined_at": "2020-01-01", "emails": ["alpha@town.example"]}
    assert (await client.put("/v1/signatories/alpha", json=body, headers=auth("admin"))).status == 201
    reports = client.app[appkeys.REPORTS]
    assert await run_scheduled(reports, datetime(2026, 12, 2, 5, 0, tzinfo=UTC)) == "not due"
    writer = client.app[appkeys.WRITER]
    await writer.stop()  # the writer falls behind: a November event stays in the stream
    # The stream's ids follow the machine's clock: start it afresh so that an id dated in the
    # injected November is accepted whatever today's date.
    await client.app[appkeys.LEDGER].client.delete(client.app[appkeys.LEDGER].keys.stream)
    await client.app[appkeys.LEDGER].client.xadd(client.app[appkeys.LEDGER].keys.stream, {"x": "1"},
                                                 id=f"{int(datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1000)}-0")
    due = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    assert await run_scheduled(reports, due) == "waiting for the writer"
    await client.app[appkeys.LEDGER].client.delete(client.app[appkeys.LEDGER].keys.stream)  # caught up
    clock.set(due)
    assert await run_scheduled(reports, due) == "queued"
    assert len(smtp.catcher.to("alpha@town.example")) == 1 and len(smtp.catcher.to("admins@pool.example")) == 1
    assert await run_scheduled(reports, due) == "done"
    assert len(smtp.catcher.received) == 2
