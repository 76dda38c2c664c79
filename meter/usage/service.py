"""Usage reading: what a signatory and the pool used in a period, from the ClickHouse history.

Flows are summed over the period's local days; stocks are the value at the end of the period
(now, for the current one). A per-dataset metric (``dataset_records``) caps each dataset, so its
"used" is the largest dataset's.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from meter.config.settings import METRICS, PoolConfig
from meter.core import quotas
from meter.core.periods import Period
from meter.registry.ids import UNATTRIBUTED
from meter.store.clickhouse import ClickHouseStore
from meter.store.history import HistoryReader

AllotmentLookup = Callable[[Period], Awaitable[dict[str, dict[str, int]]]]


@dataclass
class PoolUsage:
    """Per metric: {signatory: used}; the pool's total (a per-dataset metric: the largest dataset)."""

    by_metric: dict[str, dict[str, int]] = field(default_factory=lambda: {m: {} for m in METRICS})

    def total(self, metric: str) -> int:
        values = self.by_metric[metric].values()
        if quotas.metric(metric).per_dataset:
            return max(values, default=0)
        return sum(values)


class UsageReader:
    def __init__(self, store: ClickHouseStore, config: PoolConfig,
                 allotments: AllotmentLookup | None = None) -> None:
        self.store = store
        self.history = HistoryReader(store, config.pool.id)
        self.config = config
        self.pool = config.pool.id
        self.allotments = allotments

    async def pool_usage(self, period: Period) -> PoolUsage:
        usage = PoolUsage()
        for flow in await self.history.flow_totals(period.first_day, period.last_day):
            usage.by_metric[flow.metric][flow.signatory] = flow.value
        for stock in await self.history.stock_totals(period.end):
            for name in quotas.STOCK_NAMES:  # StockTotal names its fields after the stock metrics
                if value := getattr(stock, name):
                    usage.by_metric[name][stock.signatory] = value
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
                "reset": period.reset_iso() if quotas.is_flow(metric) else None,
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
