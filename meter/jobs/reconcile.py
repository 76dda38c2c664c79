"""Ledger rebuild and reconciliation: Redis's current state, recomputed from the ClickHouse history.

Redis is the system of record for the current periods; ClickHouse for history. If Redis loses
the ledger (flushed, failed over, a new instance), the ``ledger_epoch`` key is gone too, the
scripts refuse to work on an empty ledger, and the rebuild sets the current periods' counters,
the stocks, and the signatory registry from ClickHouse, in one transaction, before anything is
decided again (``meter/ledger/restore.py`` writes them, in the scripts' layouts). The
reconciliation job compares the two and reports the drift as a metric.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from meter.config.settings import PoolConfig
from meter.core import quotas
from meter.core.clock import Clock
from meter.core.periods import FLOW_PERIOD, Period, counter_ttl, period_of
from meter.ledger.counters import CounterStore
from meter.ledger.locks import Locks
from meter.ledger.restore import FlowCounters, LedgerRestore
from meter.observability.telemetry import Telemetry
from meter.store.clickhouse import ClickHouseStore
from meter.store.history import HistoryReader

log = logging.getLogger("meter.jobs.reconcile")
# the stocks kept as pool-wide totals in Redis (a per-dataset cap reads each dataset's own hash)
POOLED_STOCKS = tuple(m.name for m in quotas.STOCKS if not m.per_dataset)
LOCK_TTL_S = 120  # renewed while the rebuild runs


class LedgerRebuilder:
    def __init__(self, restore: LedgerRestore, counters: CounterStore, locks: Locks, store: ClickHouseStore | None,
                 config: PoolConfig, clock: Clock, telemetry: Telemetry, dedup_window_s: int) -> None:
        self.restore = restore
        self.counters = counters
        self.locks = locks
        self.dedup_window_s = dedup_window_s
        self.store = store
        self.history = HistoryReader(store, config.pool.id) if store is not None else None
        self.config = config
        self.clock = clock
        self.telemetry = telemetry
        self._local = asyncio.Lock()

    async def ensure(self) -> bool:
        """Return once the ledger is complete: rebuild it if this process owns the store, else wait.
        True when this call rebuilt it."""
        async with self._local:
            if await self.restore.complete():
                return False
            if self.store is None:
                await self.restore.wait_complete()
                return False
            return await self._rebuild_locked()

    async def _rebuild_locked(self) -> bool:
        while True:
            async with self.locks.hold("rebuild", LOCK_TTL_S, renew=True) as held:
                if held.acquired:
                    lost = not await self.restore.complete()
                    if lost:
                        await self.rebuild()
                    return lost
            await asyncio.sleep(0.2)
            if await self.restore.complete():
                return False  # another process rebuilt it

    async def rebuild(self) -> None:
        assert self.history is not None
        started = time.perf_counter()
        restored = await self._dedup_keys()  # first: nothing is decided or ingested before the epoch
        await self.restore.ledger(await self._flows(), await self.history.latest_snapshots(), POOLED_STOCKS,
                                  await self.history.latest_signatories(), self.dedup_window_s,
                                  int(self.clock.now().timestamp()))
        if not await self._has_history():
            log.info("ledger started empty: ClickHouse holds no history of this pool")
            return
        self.telemetry.ledger_rebuilds.inc()
        log.warning("ledger rebuilt from ClickHouse", extra={
            "seconds": round(time.perf_counter() - started, 3), "dedup_keys": restored})

    async def _has_history(self) -> bool:
        assert self.history is not None
        return await self.history.history_count() > 0

    async def _dedup_keys(self) -> int:
        """Set again the dedup keys of the events (and of the checks sent with an ``id``) received
        within the dedup window, each with the lifetime it had left, so that an event sent again
        after a Redis loss is still a duplicate. Returns how many were set."""
        assert self.history is not None
        now = self.clock.now()
        restored = 0
        for start, end in _slices(now - timedelta(seconds=self.dedup_window_s), now + timedelta(minutes=5)):
            rows = await self.history.received_between(start, end)
            restored += await self.restore.dedup(rows, now.timestamp() * 1000, self.dedup_window_s)
        return restored

    def _current_flows(self, now: datetime) -> list[tuple[str, Period]]:
        """Each flow metric with its current period (the month for api_calls, the day for update_bytes: quotas)."""
        return [(metric, period_of(kind, now, self.config.tz)) for metric, kind in FLOW_PERIOD.items()]

    async def _flows(self) -> list[FlowCounters]:
        assert self.history is not None
        now = self.clock.now()
        return [FlowCounters(metric, period.label,
                             await self.history.flow_by_signatory(metric, period.first_day, period.last_day),
                             counter_ttl(period.end.timestamp(), now.timestamp()))
                for metric, period in self._current_flows(now)]

    async def reconcile(self) -> dict[str, int]:
        """Redis counter minus ClickHouse history for the current periods; exported as a gauge.

        Events still in the stream are in Redis but not yet in ClickHouse, so a small positive
        drift while the writer lags is expected; a lasting one is a fault.
        """
        assert self.history is not None
        now = self.clock.now()
        drift = {}
        for metric, period in self._current_flows(now):
            rows = await self.history.flow_by_signatory(metric, period.first_day, period.last_day)
            history = sum(r.value for r in rows)
            current = await self.counters.flow_total(metric, period.label)
            drift[metric] = current - history
            self.telemetry.ledger_drift.labels(metric).set(drift[metric])
        return drift


def _slices(start: datetime, end: datetime, step: timedelta = timedelta(days=1)):
    """[start, end) cut into consecutive ranges of at most ``step``."""
    while start < end:
        yield start, min(start + step, end)
        start += step
