"""When an alert fires: pure functions of use, limit and time (no I/O).

A threshold alert fires when use reaches ``threshold`` percent of the limit (``used >= limit x
threshold / 100``). A forecast alert fires when, after at least 10 % of the period, the pace so far
would use the whole limit before the period ends; it names the local date it would run out.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from meter.core.periods import Period

FORECAST_AFTER = 0.10  # of the period elapsed: earlier, a pace is mostly noise


def crossed(used: int, limit: int, thresholds: list[int]) -> list[int]:
    """The thresholds (percent) that ``used`` has reached; none without a positive limit."""
    if limit <= 0:
        return []
    return [t for t in thresholds if used * 100 >= limit * t]


def exhaustion(used: int, limit: int, period: Period, now: datetime) -> date | None:
    """The local date the limit would run out at the pace so far, if within the period."""
    elapsed = (now - period.start).total_seconds()
    if limit <= 0 or used <= 0 or elapsed < FORECAST_AFTER * period.seconds or used >= limit:
        return None  # too early to tell, nothing used, or already used up (threshold alerts say so)
    lasts_s = elapsed * limit / used  # compared before it becomes a date: a vast limit is past year 9999
    if lasts_s >= period.seconds:
        return None
    return (period.start + timedelta(seconds=lasts_s)).astimezone(period.tz).date()
