"""Scheduled jobs (APScheduler 3, asyncio): each runs once per pool even with several processes.

A job takes a Redis lock (``ledger/locks.py``, through ``ledger/redis_jobs.py``) for its run; a
process that does not get it skips that run. The jobs themselves are wired in ``meter/app.py`` (``_scheduler``)
and listed in docs/operations.md: ledger watch, release of expired reservations, denial flush,
reconciliation, allocations, and the ODS catalogue poll when ``[collectors.ods] portal`` is set
(``meter/collectors/ods_job.py``).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from meter.core.clock import Clock
from meter.core.errors import Unavailable
from meter.ledger.redis_jobs import RedisJobs

log = logging.getLogger("meter.jobs.scheduler")
Job = Callable[[], Awaitable[object]]


class Jobs:
    """The jobs' bodies, kept apart from the scheduler so tests call them directly."""

    def __init__(self, ledger: RedisJobs, clock: Clock, release_expired: Job, reconcile: Job | None) -> None:
        self.ledger = ledger
        self.clock = clock
        self._release_expired = release_expired
        self._reconcile = reconcile

    async def flush_denials(self) -> int:
        """Move every finished minute of denial counts to the stream; returns rows moved."""
        return await self.ledger.flush_denials(int(self.clock.now().timestamp() // 60) - 1)

    async def release_expired_reservations(self) -> None:
        await self._release_expired()

    async def reconcile(self) -> None:
        if self._reconcile is not None:
            await self._reconcile()


class Scheduler:
    def __init__(self, jobs: Jobs, timezone: str = "UTC") -> None:
        self.jobs = jobs
        self._scheduler = AsyncIOScheduler(timezone=timezone)  # cron jobs run in the pool's local time

    def start(self) -> None:
        self._add("release_expired_reservations", self.jobs.release_expired_reservations, seconds=10)
        self._add("flush_denials", self.jobs.flush_denials, seconds=20)
        self._add("reconcile", self.jobs.reconcile, seconds=300)
        self._scheduler.start()

    def add(self, name: str, job: Job, **trigger: int) -> None:
        """More jobs (later features) join the same once-per-pool locking."""
        self._add(name, job, **trigger)

    def add_cron(self, name: str, job: Job, **fields: int) -> None:
        """A job at fixed local times (e.g. hour=0, minute=0: each local midnight)."""
        async def locked() -> None:
            await self._once(name, job, 60)

        self._scheduler.add_job(locked, "cron", id=name, max_instances=1, coalesce=True, **fields)

    def _add(self, name: str, job: Job, **trigger: int) -> None:
        async def locked() -> None:
            await self._once(name, job, trigger.get("seconds", 60))

        self._scheduler.add_job(locked, "interval", id=name, max_instances=1, coalesce=True, **trigger)

    async def _once(self, name: str, job: Job, period_s: int) -> None:
        try:
            if not await self.jobs.ledger.take_lock(name, max(1000, period_s * 900)):
                return  # another process runs it this time
            await job()
        except Unavailable as exc:  # Redis or ClickHouse away, or the ledger lost: expected, no traceback
            log.warning("scheduled job %s skipped: %s", name, exc.message)
        except Exception:  # a failed run is logged and retried at the next tick
            log.exception("scheduled job %s failed", name)

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=False)
