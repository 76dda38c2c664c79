"""Ledger rebuild and reconciliation: Redis's current state, recomputed from the ClickHouse history.

Redis is the system of record for the current periods; ClickHouse for history. If Redis loses
the ledger (flushed, failed over, a new instance), the ``ledger_epoch`` key is gone too, the
scripts refuse to work on an empty ledger, and the rebuild sets the current periods' counters,
the stocks, and the signatory registry from ClickHouse, in one transaction, before anything is
decided again. The reconciliation job compares the two and reports the drift as a metric.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

import orjson
import redis.asyncio as redis

from meter.config.settings import PoolConfig
from meter.core import quotas
from meter.core.clock import Clock
from meter.core.periods import FLOW_PERIOD, Period, counter_ttl, period_of
from meter.ledger.client import translated
from meter.ledger.keys import Keys
from meter.ledger.locks import Locks
from meter.observability.telemetry import Telemetry
from meter.store.clickhouse import ClickHouseStore
from meter.store.history import HistoryReader

log = logging.getLogger("meter.jobs.reconcile")
# the stocks kept as pool-wide totals in Redis (a per-dataset cap reads each dataset's own hash)
POOLED_STOCKS = tuple(m.name for m in quotas.STOCKS if not m.per_dataset)
LOCK_TTL_S = 120  # renewed while the rebuild runs


class LedgerRebuilder:
    def __init__(self, client: redis.Redis, keys: Keys, store: ClickHouseStore | None, config: PoolConfig,
                 clock: Clock, telemetry: Telemetry, dedup_window_s: int) -> None:
        self.client = client
        self.dedup_window_s = dedup_window_s
        self.keys = keys
        self.store = store
        self.history = HistoryReader(store, config.pool.id) if store is not None else None
        self.config = config
        self.clock = clock
        self.telemetry = telemetry
        self._local = asyncio.Lock()
        self.locks = Locks(client, keys)

    async def ensure(self) -> bool:
        """Return once the ledger is complete: rebuild it if this process owns the store, else wait.
        True when this call rebuilt it."""
        async with self._local:
            async with translated("ledger epoch"):
                if await self.client.exists(self.keys.ledger_epoch):
                    return False
            if self.store is None:
                async with translated("ledger epoch"):
                    await self._wait_for_epoch()
                return False
            return await self._rebuild_locked()

    async def _wait_for_epoch(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self.client.exists(self.keys.ledger_epoch):
                return
            await asyncio.sleep(0.2)

    async def _rebuild_locked(self) -> bool:
        while True:
            async with self.locks.hold("rebuild", LOCK_TTL_S, renew=True) as held:
                if held.acquired:
                    async with translated("ledger epoch"):
                        lost = not await self.client.exists(self.keys.ledger_epoch)
                    if lost:
                        await self.rebuild()
                    return lost
            await asyncio.sleep(0.2)
            async with translated("ledger epoch"):
                if await self.client.exists(self.keys.ledger_epoch):
                    return False  # another process rebuilt it

    async def rebuild(self) -> None:
        assert self.store is not None
        started = time.perf_counter()
        restored = await self._dedup_keys()  # first: nothing is decided or ingested before the epoch
        pipe = self.client.pipeline(transaction=True)
        await self._flows(pipe)
        await self._stocks(pipe)
        await self._registry(pipe)
        pipe.set(self.keys.ledger_epoch, str(int(time.time())))
        async with translated("rebuild"):
            await pipe.execute()
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
        now_ms = now.timestamp() * 1000
        restored = 0
        for start, end in _slices(now - timedelta(seconds=self.dedup_window_s), now + timedelta(minutes=5)):
            rows = await self.history.received_between(start, end)
            pipe = self.client.pipeline(transaction=False)
            for ev in rows:
                ttl = self.dedup_window_s - int((now_ms - ev.received_ms) // 1000)
                if ttl <= 0:
                    continue
                keys = {self.keys.seen(ev.source, ev.id): "1"}
                if ev.check_id:
                    keys[self.keys.seen_check(ev.check_id)] = "1"  # an api.call event counted this check
                for entry in ev.check_keys:  # "digest:fingerprint" of a check allowed and counted
                    digest, _, fingerprint = entry.partition(":")
                    keys[self.keys.seen_digest(digest)] = f"{fingerprint}\x1fR" if fingerprint else "1"
                for key, value in keys.items():
                    pipe.set(key, value, ex=ttl, nx=True)  # nx: a check's stored answer stays
                restored += len(keys)
            async with translated("restore dedup keys"):
                await pipe.execute()
        return restored

    def _current_flows(self, now: datetime) -> list[tuple[str, Period]]:
        """Each flow metric with its current period (the month for api_calls, the day for update_bytes: quotas)."""
        return [(metric, period_of(kind, now, self.config.tz)) for metric, kind in FLOW_PERIOD.items()]

    async def _flows(self, pipe) -> None:
        assert self.history is not None
        now = self.clock.now()
        for metric, period in self._current_flows(now):
            key = self.keys.flow(metric, period.label)
            pipe.delete(key)
            rows = await self.history.flow_by_signatory(metric, period.first_day, period.last_day)
            if rows:
                fields = {r.signatory: r.value for r in rows}
                fields["*"] = sum(fields.values())
                pipe.hset(key, mapping=fields)
                pipe.expire(key, counter_ttl(period.end.timestamp(), now.timestamp()))

    async def _stocks(self, pipe) -> None:
        assert self.history is not None
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for snap in await self.history.latest_snapshots():
            kind, _, name = snap.item.partition(":")
            if kind == "ds":  # the ledger effect of dataset.records (ingest.lua's 'd')
                pipe.hset(self.keys.dataset(name), mapping={"sig": snap.signatory, "a": snap.records,
                                                            "b": snap.raw_bytes, "t": snap.time_ms})
                levels = {"records": snap.records, "raw_bytes": snap.raw_bytes}
            else:  # of content.bytes (ingest.lua's 'c')
                pipe.hset(self.keys.content_object(name), mapping={"sig": snap.signatory, "a": snap.bytes, "b": 0,
                                                                   "t": snap.time_ms})
                levels = {"content_bytes": snap.bytes}
            for metric, v in levels.items():
                totals[metric][snap.signatory] += v
                totals[metric]["*"] += v
        for metric in POOLED_STOCKS:
            pipe.delete(self.keys.stock(metric))
            if totals[metric]:
                pipe.hset(self.keys.stock(metric), mapping=dict(totals[metric]))

    async def _registry(self, pipe) -> None:
        assert self.history is not None
        rows = await self.history.latest_signatories()
        if not rows:
            return
        pipe.delete(self.keys.signatories, self.keys.hosts)
        for sid, record in rows:
            pipe.hset(self.keys.signatories, sid, record)
            pipe.sadd(self.keys.signatory_ids, sid)
            for host in orjson.loads(record).get("hosts") or []:
                pipe.hset(self.keys.hosts, host, sid)

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
            async with translated("reconcile"):
                current = int(await self.client.hget(self.keys.flow(metric, period.label), "*") or 0)
            drift[metric] = current - history
            self.telemetry.ledger_drift.labels(metric).set(drift[metric])
        return drift


def _slices(start: datetime, end: datetime, step: timedelta = timedelta(days=1)):
    """[start, end) cut into consecutive ranges of at most ``step``."""
    while start < end:
        yield start, min(start + step, end)
        start += step
