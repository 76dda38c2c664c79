"""Stores: every Redis adapter of one pool over one connection, what ``meter/app.py`` hands out.

The rest of the service never sees the Redis client: it gets the adapter for what it stores
(the registry, the allotments, the outbox, ...), each named for it and built here once.
"""
from __future__ import annotations

from functools import cached_property

import redis.asyncio as redis

from meter.ledger.alerts_store import AlertStore
from meter.ledger.allotments import AllotmentStore
from meter.ledger.client import check_no_eviction, connect, translated
from meter.ledger.counters import CounterStore
from meter.ledger.keys import Keys
from meter.ledger.lean import LeanScripts
from meter.ledger.locks import Locks
from meter.ledger.outbox import OutboxStore
from meter.ledger.owners import RedisOwners
from meter.ledger.redis_decisions import RedisDecisions
from meter.ledger.redis_jobs import RedisJobs
from meter.ledger.redis_ledger import RedisLedger
from meter.ledger.redis_portal import RedisPortalLinks
from meter.ledger.registry_store import RegistryStore
from meter.ledger.replication import Replication
from meter.ledger.report_records import ReportRecords
from meter.ledger.restore import LedgerRestore
from meter.ledger.stream import RedisStream


class Stores:
    def __init__(self, client: redis.Redis, keys: Keys, replication: Replication | None = None,
                 lean: LeanScripts | None = None) -> None:
        self._client = client
        self.keys = keys
        self.replication = replication or Replication(client)
        self._lean = lean  # the decide script's own connection (lean.py): a plain Redis, TCP or Unix socket

    @classmethod
    async def open(cls, url: str, pool: str, check: bool = True, cluster: bool = False, wait_replicas: int = 0,
                   wait_ms: int = 100) -> Stores:
        """Connect (``cluster``: ``url`` names one node of a Redis Cluster); with ``check``, make sure
        Redis answers and never evicts (start-up). ``wait_replicas``: the writes that answer 2xx
        wait for that many replicas (``replication.py``)."""
        client = connect(url, cluster=cluster)
        try:
            if check:
                async with translated("start-up"):
                    await client.ping()
                await check_no_eviction(client)
        except BaseException:
            await client.aclose()
            raise
        lean = LeanScripts(url, timeout_s=2.0) if LeanScripts.usable(url, cluster) else None
        return cls(client, Keys(pool), Replication(client, wait_replicas, wait_ms), lean)

    async def close(self) -> None:
        if self._lean is not None:
            await self._lean.close()
        await self._client.aclose()

    async def ping(self) -> bool:
        """Redis answers (readiness)."""
        return bool(await self._client.ping())

    def ledger(self, dedup_window_s: int, backlog_limit: int, max_datasets: int = 100_000,
               max_objects: int = 100_000) -> RedisLedger:
        return RedisLedger(self._client, self.keys, dedup_window_s, backlog_limit, max_datasets, max_objects,
                           replication=self.replication)

    def decisions(self, dedup_window_s: int, timeout_s: float) -> RedisDecisions:
        return RedisDecisions(self._client, self.keys, dedup_window_s, timeout_s, self.replication, self._lean)

    @cached_property
    def allotments(self) -> AllotmentStore:
        return AllotmentStore(self._client, self.keys)

    @cached_property
    def alerts(self) -> AlertStore:
        return AlertStore(self._client, self.keys)

    @cached_property
    def counters(self) -> CounterStore:
        return CounterStore(self._client, self.keys)

    @cached_property
    def locks(self) -> Locks:
        return Locks(self._client, self.keys)

    @cached_property
    def outbox(self) -> OutboxStore:
        return OutboxStore(self._client, self.keys)

    @cached_property
    def registry(self) -> RegistryStore:
        return RegistryStore(self._client, self.keys)

    @cached_property
    def reports(self) -> ReportRecords:
        return ReportRecords(self._client, self.keys)

    @cached_property
    def restore(self) -> LedgerRestore:
        return LedgerRestore(self._client, self.keys)

    @cached_property
    def owners(self) -> RedisOwners:
        return RedisOwners(self._client, self.keys)

    @cached_property
    def stream(self) -> RedisStream:
        return RedisStream(self._client, self.keys, self.replication)

    @cached_property
    def jobs(self) -> RedisJobs:
        return RedisJobs(self._client, self.keys)

    @cached_property
    def portal(self) -> RedisPortalLinks:
        return RedisPortalLinks(self._client, self.keys)
