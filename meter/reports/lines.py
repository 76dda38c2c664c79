"""The numbers of one report: a line per metric, the exhaustion date, the pool's ranking.

Pure functions of the month's figures (``figures.MonthFigures``): no I/O and no words, so the
text, HTML, CSV and PDF all show the same numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from meter.config.settings import METRICS, CapsSection
from meter.reports.figures import MonthFigures, days_of

POOL = "pool"  # the consolidated report's id
NEAR_PERCENT = 80  # the consolidated report lists partners at or above this share of an allotment


@dataclass(frozen=True)
class Line:
    metric: str
    used: int
    allotment: int | None  # the pool's report: the cap
    pool_used: int
    cap: int
    previous: int

    @property
    def percent(self) -> float | None:
        return self.used / self.allotment * 100 if self.allotment else None


@dataclass(frozen=True)
class BusiestDay:
    day: date
    used: int
    allotment: int | None


def month_allotment(figures: MonthFigures, sig: str, metric: str, caps: CapsSection) -> int | None:
    """A partner's allotment of ``metric`` for the month (update_bytes: the sum of its days')."""
    if sig == POOL:
        per_day = caps.get(metric) * len(days_of(figures.period)) if metric == "update_bytes" else None
        return per_day if per_day is not None else caps.get(metric)
    if metric == "update_bytes":
        days = [figures.allotment(_day_label(d), sig, metric) for d in days_of(figures.period)]
        # a sum over some days only would read as the month's share: none unless every day has one
        return None if any(d is None for d in days) else sum(d for d in days if d is not None)
    return figures.allotment(figures.period.label, sig, metric)


def day_allotment(figures: MonthFigures, sig: str, day: date, caps: CapsSection) -> int | None:
    if sig == POOL:
        return caps.get("update_bytes")
    return figures.allotment(_day_label(day), sig, "update_bytes")


def _day_label(d: date) -> str:
    return d.isoformat()


def lines(figures: MonthFigures, sig: str, caps: CapsSection) -> list[Line]:
    out = []
    for metric in METRICS:
        used = figures.pool_used(metric) if sig == POOL else figures.used(metric, sig)
        cap = caps.get(metric) * (len(days_of(figures.period)) if metric == "update_bytes" else 1)
        previous = figures.previous.get(metric, {})
        prev = (max(previous.values(), default=0) if metric == "dataset_records" else sum(previous.values())) \
            if sig == POOL else previous.get(sig, 0)
        allotment = None if metric == "dataset_records" and sig != POOL else month_allotment(figures, sig, metric, caps)
        out.append(Line(metric, used, allotment, figures.pool_used(metric), cap, prev))
    return out


def daily_calls(figures: MonthFigures, sig: str) -> list[tuple[date, int]]:
    per_day = figures.daily.get("api_calls", {})
    if sig == POOL:
        return [(d, figures.pool_day("api_calls", d)) for d in days_of(figures.period)]
    mine = per_day.get(sig, {})
    return [(d, mine.get(d, 0)) for d in days_of(figures.period)]


def busiest_update_day(figures: MonthFigures, sig: str, caps: CapsSection) -> BusiestDay | None:
    days = figures.daily.get("update_bytes", {})
    series = {d: figures.pool_day("update_bytes", d) for d in days_of(figures.period)} if sig == POOL \
        else days.get(sig, {})
    if not series or max(series.values()) == 0:
        return None
    day = max(sorted(series), key=lambda d: series[d])
    return BusiestDay(day, series[day], day_allotment(figures, sig, day, caps))


def exhaustion_day(figures: MonthFigures, sig: str, allotment: int | None) -> date | None:
    """The day the month's API calls allotment ran out, or would have at the month's pace so far."""
    if not allotment:
        return None
    series = daily_calls(figures, sig)
    elapsed = [(d, n) for d, n in series if d <= figures.as_of.astimezone(figures.period.tz).date()]
    total = 0
    for d, n in elapsed:
        total += n
        if total >= allotment:
            return d  # it did run out
    if not figures.provisional or total == 0:
        return None
    pace = total / len(elapsed)  # per day so far
    day = figures.period.first_day + timedelta(days=math.ceil(allotment / pace) - 1)
    return day if day < figures.period.end_day else None


def ranking(figures: MonthFigures, names: dict[str, str], caps: CapsSection) -> list[tuple[str, Line]]:
    """Every active partner's API calls line, most used first (the pool's report)."""
    ranked = [(sig, lines(figures, sig, caps)[0]) for sig in names]
    return sorted(ranked, key=lambda item: (-item[1].used, item[0]))


def near_shares(figures: MonthFigures, names: dict[str, str], caps: CapsSection) -> list[tuple[str, Line]]:
    """(partner, line) for each metric where a partner used NEAR_PERCENT or more of its allotment."""
    return [(sig, line) for sig in names for line in lines(figures, sig, caps)
            if line.percent is not None and line.percent >= NEAR_PERCENT]
