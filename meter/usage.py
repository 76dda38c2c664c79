"""Usage reading: what a signatory and the pool used in a period, from the ClickHouse history.

Flows are summed over the period's local days; stocks are the value at the end of the period
(now, for the current one). ``dataset_records`` is a per-dataset cap, so its "used" is the
largest dataset's record count.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from meter.periods import Period
from meter.registry.ids import UNATTRIBUTED
from meter.settings import FLOW_METRICS, METRICS, PoolConfig
from meter.store import queries
from meter.store.clickhouse import ClickHouseStore

AllotmentLookup = Callable[[Period], Awaitable[dict[str, dict[str, int]]]]


@dataclass
class PoolUsage:
    """Per metric: {signatory: used}; the pool's total (dataset_records: the largest dataset)."""

    by_metric: dict[str, dict[str, int]] = field(default_factory=lambda: {m: {} for m in METRICS})

    def total(self, metric: str) -> int:
        values = self.by_metric[metric].values()
        if metric == "dataset_records":
            return max(values, default=0)
        return sum(values)


class UsageReader:
    def __init__(self, store: ClickHouseStore, config: PoolConfig,
                 allotments: AllotmentLookup | None = None) -> None:
        self.store = store
        self.config = config
        self.pool = config.pool.id
        self.allotments = allotments

    async def pool_usage(self, period: Period) -> PoolUsage:
        usage = PoolUsage()
        sql, params = queries.flow_totals(self.store.db, self.pool, period.first_day, period.last_day)
        for metric, sig, value in await self.store.rows(sql, params):
            usage.by_metric[metric][sig] = int(value)
        sql, params = queries.stock_totals(self.store.db, self.pool, period.end)
        for sig, records, raw, content, largest in await self.store.rows(sql, params):
            for metric, value in (("records", records), ("raw_bytes", raw), ("content_bytes", content),
                                  ("dataset_records", largest)):
                if value:
                    usage.by_metric[metric][sig] = int(value)
        return usage

    async def usage(self, signatory: str, period: Period) -> dict[str, Any]:
        pool_usage = await self.pool_usage(period)
        allot = (await self.allotments(period)).get(signatory, {}) if self.allotments else {}
        metrics = {}
        for metric in METRICS:
            used = pool_usage.by_metric[metric].get(signatory, 0)
            cap = self.config.caps.get(metric)
            allotment = allot.get(metric)
            base = allotment if allotment is not None else cap
            metrics[metric] = {
                "used": used, "allotment": allotment, "cap": cap, "pool_used": pool_usage.total(metric),
                "percent": round(used / base * 100, 2) if base else None,
                "reset": period.reset_iso() if metric in FLOW_METRICS else None,
            }
        return {"signatory": signatory, "period": period.label, "metrics": metrics}

    async def pool_view(self, period: Period) -> dict[str, Any]:
        pool_usage = await self.pool_usage(period)
        metrics = {
            metric: {"cap": self.config.caps.get(metric), "used": pool_usage.total(metric),
                     "by_signatory": dict(sorted({UNATTRIBUTED: 0, **pool_usage.by_metric[metric]}.items()))}
            for metric in METRICS
        }
        return {"pool": self.pool, "period": period.label, "metrics": metrics}
