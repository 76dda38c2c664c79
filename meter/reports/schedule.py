"""The monthly send, scheduled: on ``send_day`` at ``send_time`` (pool time), last month's reports.

The job runs every minute and asks "is this month's send due and not yet made?", so a run
missed while the service was down is made when it starts again, within the same month. It waits
until the writer has copied every stream entry older than the month's end into ClickHouse, and
marks the month done only once its reports are queued.
"""
from __future__ import annotations

import logging
from datetime import datetime, time

from meter.config.settings import PoolConfig
from meter.core.periods import Period, local_midnight, month_of
from meter.reports.service import Reports

log = logging.getLogger("meter.reports")
DONE_TTL_S = 40 * 86_400


def due_month(now: datetime, config: PoolConfig) -> Period | None:
    """Last month, if this month's send moment has passed; else None."""
    section, tz = config.reports, config.tz
    this_month = month_of(now, tz)
    hour, minute = (int(x) for x in section.send_time.split(":"))
    moment = datetime.combine(this_month.first_day.replace(day=section.send_day), time(hour, minute), tzinfo=tz)
    if local_midnight(moment.date(), tz) > moment:  # a send_time inside a DST gap: take the day's start
        moment = local_midnight(moment.date(), tz)
    return this_month.previous() if now >= moment else None


async def run_scheduled(reports: Reports, now: datetime) -> str:
    """One tick of the scheduled send; returns what it did (for logs and tests)."""
    config, records = reports.config, reports.records
    if not config.reports.auto_send or not reports.mail.enabled:
        return "off"
    month = due_month(now, config)
    if month is None:
        return "not due"
    if await records.month_queued(month.label):
        return "done"
    if await reports.stream.waiting_before(int(month.end.timestamp() * 1000)):
        log.info("monthly reports wait for the writer", extra={"month": month.label})
        return "waiting for the writer"
    result = await reports.queue(month, None, resend=False)
    await records.mark_month_queued(month.label, now.isoformat(), DONE_TTL_S)
    log.info("monthly reports queued", extra={"month": month.label, **result})
    await reports.send_queued()
    return "queued"
