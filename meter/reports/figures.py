"""A month's figures for every report of the pool, read with a few queries on the rollups.

chDB runs one query at a time and competes with the writer, so the figures of all partners are
read together (eight queries for the whole month, whatever the number of partners) and each
report is then cut from them in memory.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson

from meter.compliance.checks import DatasetCheck
from meter.compliance.service import checked
from meter.core.periods import Period
from meter.store import queries
from meter.store.clickhouse import ClickHouseStore

TOP = 5
STOCK_COLUMNS = ("records", "raw_bytes", "content_bytes", "dataset_records")
Projection = Callable[[Period], Awaitable[dict[str, Any]]]  # the next month's allocation (maybe projected)
# the allocation documents still kept in Redis, by period label (they win over the history's rows,
# which a fixed clock or a fast recomputation can leave with equal ``computed_at``)
Recent = Callable[[list[str]], Awaitable[dict[str, dict[str, Any]]]]


@dataclass
class Allocation:
    """What was stored for a period: policy, {signatory: {metric: allotment}}, explanations."""

    policy: str
    allotments: dict[str, dict[str, int]]
    explanation: dict[str, str]  # by language


@dataclass
class MonthFigures:
    period: Period
    as_of: datetime  # the month's end, or now for the month in progress
    provisional: bool
    daily: dict[str, dict[str, dict[date, int]]] = field(default_factory=dict)  # metric -> sig -> day -> used
    previous: dict[str, dict[str, int]] = field(default_factory=dict)  # metric -> sig -> used last month
    stocks: dict[str, dict[str, int]] = field(default_factory=dict)  # metric -> sig -> value at as_of
    top_calls: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    top_records: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    datasets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # sig -> every dataset, largest first
    denials: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)  # sig -> (metric, scope) -> n
    allocations: dict[str, Allocation] = field(default_factory=dict)  # by period label (month and days)
    next_allocation: dict[str, Any] | None = None
    compliance: dict[str, list[DatasetCheck]] = field(default_factory=dict)  # sig -> its datasets, checked at as_of

    def month_total(self, metric: str, sig: str) -> int:
        return sum(self.daily.get(metric, {}).get(sig, {}).values())

    def used(self, metric: str, sig: str) -> int:
        if metric in STOCK_COLUMNS:
            return self.stocks.get(metric, {}).get(sig, 0)
        return self.month_total(metric, sig)

    def pool_used(self, metric: str) -> int:
        if metric in STOCK_COLUMNS:
            values = self.stocks.get(metric, {}).values()
            return max(values, default=0) if metric == "dataset_records" else sum(values)
        return sum(sum(days.values()) for days in self.daily.get(metric, {}).values())

    def pool_day(self, metric: str, day: date) -> int:
        return sum(days.get(day, 0) for days in self.daily.get(metric, {}).values())

    def allotment(self, period_label: str, sig: str, metric: str) -> int | None:
        found = self.allocations.get(period_label)
        if found is None or found.policy == "none":
            return None
        return found.allotments.get(sig, {}).get(metric)


async def read_month(store: ClickHouseStore, pool: str, period: Period, now: datetime,
                     project: Projection | None = None, recent: Recent | None = None,
                     only: str | None = None) -> MonthFigures:
    """Every figure of ``period``'s reports (as of ``now`` for the month in progress); ``only``: the
    datasets' compliance of that signatory alone (a partner's page: the rest is the pool's)."""
    as_of = min(period.end, now)
    figures = MonthFigures(period, as_of, provisional=now < period.end)
    db = store.db
    prev = period.previous()
    for metric, day, sig, value in await store.rows(*queries.daily_flows(db, pool, period.first_day, period.last_day)):
        figures.daily.setdefault(metric, {}).setdefault(sig, {})[_as_date(day)] = int(value)
    for metric, sig, value in await store.rows(*queries.flow_totals(db, pool, prev.first_day, prev.last_day)):
        figures.previous.setdefault(metric, {})[sig] = int(value)
    figures.stocks = await _stocks(store, pool, as_of)
    for metric, per in (await _stocks(store, pool, prev.end)).items():
        figures.previous.setdefault(metric, {}).update(per)
    top_calls = queries.top_datasets_by_calls(db, pool, period.first_day, period.last_day, TOP)
    for sig, dataset, calls in await store.rows(*top_calls):
        figures.top_calls.setdefault(sig, []).append((dataset, int(calls)))
    for sig, dataset, records in await store.rows(*queries.dataset_records_at(db, pool, as_of)):
        figures.datasets.setdefault(sig, []).append((dataset, int(records)))
    figures.top_records = {sig: every[:TOP] for sig, every in figures.datasets.items()}
    denials: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for sig, metric, scope, n in await store.rows(*queries.denials_between(db, pool, period.start, period.end)):
        denials[sig][(metric, scope)] = int(n)
    figures.denials = dict(denials)
    figures.allocations = await _allocations(store, pool, period)
    if recent is not None:
        labels = [period.label] + [d.isoformat() for d in days_of(period)]
        for label, doc in (await recent(labels)).items():
            explanation = {"en": doc.get("explanation", ""), "fr": doc.get("explanation_fr", "")}
            figures.allocations[label] = Allocation(doc["policy"], doc["signatories"], explanation)
    if project is not None:
        figures.next_allocation = await project(period.next())
    for sig, found in await checked(store, pool, as_of, only):  # the latest metadata, late or not at as_of
        figures.compliance.setdefault(sig, []).append(found)
    return figures


async def _stocks(store: ClickHouseStore, pool: str, before: datetime) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {m: {} for m in STOCK_COLUMNS}
    for sig, *values in await store.rows(*queries.stock_totals(store.db, pool, before)):
        for metric, value in zip(STOCK_COLUMNS, values):
            if value:
                found[metric][sig] = int(value)
    return found


async def _allocations(store: ClickHouseStore, pool: str, period: Period) -> dict[str, Allocation]:
    found = {}
    for label, policy, allotments, en, fr in await store.rows(*queries.allocations_of_month(store.db, pool,
                                                                                            period.label)):
        found[label] = Allocation(policy, orjson.loads(allotments), {"en": en, "fr": fr})
    return found


def days_of(period: Period) -> list[date]:
    day, days = period.first_day, []
    while day < period.end_day:
        days.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return days


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
