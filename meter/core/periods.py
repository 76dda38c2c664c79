"""Calendar periods in the pool's time zone.

A month starts at local midnight on the 1st and a day at local midnight, whatever the
daylight-saving rules do, so a Paris month lasts 743, 744 or 745 hours. Every bound is computed
from local dates, then converted to UTC, never by adding hours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from meter.core import quotas
from meter.core.errors import InvalidRequest

Kind = quotas.PeriodKind
FLOW_PERIOD: dict[str, Kind] = {m.name: m.period for m in quotas.FLOWS if m.period}  # when each flow resets
COUNTER_GRACE_S = 2 * 86_400  # a flow's counter outlives its period a little (late events, reads)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# the years a period may name: what ClickHouse's Date holds (1970-01-01 to 2149-06-06), whole
FIRST_YEAR, LAST_YEAR = 1970, 2148


def local_midnight(d: date, tz: ZoneInfo) -> datetime:
    """The first instant of local date ``d`` (midnight exists in every zone we serve)."""
    return datetime.combine(d, time(0), tzinfo=tz)


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    kind: Kind
    first_day: date  # local date of the first day
    tz: ZoneInfo

    @property
    def end_day(self) -> date:
        """The local date just after the period (exclusive)."""
        if self.kind == "day":
            return self.first_day + timedelta(days=1)
        return _next_month(self.first_day)

    @property
    def last_day(self) -> date:
        return self.end_day - timedelta(days=1)

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        return local_midnight(self.end_day, self.tz)

    @property
    def seconds(self) -> int:
        return int((self.end.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds())

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.first_day.isoformat()
        return self.first_day.strftime("%Y-%m")

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    def next(self) -> Period:
        return Period(self.kind, self.end_day, self.tz)

    def previous(self) -> Period:
        if self.kind == "day":
            return Period("day", self.first_day - timedelta(days=1), self.tz)
        prev = self.first_day - timedelta(days=1)
        return Period("month", prev.replace(day=1), self.tz)

    def reset_iso(self) -> str:
        """The period's end as RFC 3339 with the local offset, e.g. 2026-04-01T00:00:00+02:00."""
        return self.end.isoformat()


def month_of(instant: datetime, tz: ZoneInfo) -> Period:
    local = instant.astimezone(tz).date()
    return Period("month", local.replace(day=1), tz)


def day_of(instant: datetime, tz: ZoneInfo) -> Period:
    return Period("day", instant.astimezone(tz).date(), tz)


def period_of(kind: Kind, instant: datetime, tz: ZoneInfo) -> Period:
    return month_of(instant, tz) if kind == "month" else day_of(instant, tz)


def parse_period(text: str | None, tz: ZoneInfo, now: datetime, field: str = "period") -> Period:
    """``YYYY-MM`` (a month) or ``YYYY-MM-DD`` (a day); None means the current month."""
    if text is None or text == "":
        return month_of(now, tz)
    try:
        if isinstance(text, str) and (m := _MONTH.fullmatch(text) or _DAY.fullmatch(text)):
            first = date(int(m[1]), int(m[2]), int(m[3]) if m.re is _DAY else 1)
            if FIRST_YEAR <= first.year <= LAST_YEAR:
                return Period("month" if m.re is _MONTH else "day", first, tz)
    except ValueError:
        pass
    raise InvalidRequest(
        f"{field} must be YYYY-MM or YYYY-MM-DD",
        [{"field": field, "reason": f"{text!r} is not a month (YYYY-MM) or a day (YYYY-MM-DD) "
                                    f"from {FIRST_YEAR} to {LAST_YEAR}"}],
    )


def counter_ttl(end_ts: float, now_ts: float) -> int:
    """Seconds a period's counter must still live in Redis, by the service's clock (not Redis's)."""
    return int(end_ts - now_ts) + COUNTER_GRACE_S


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()
