"""HistoryReader: the ClickHouse history of one pool, read as named records.

Bound to (store, pool) once, so callers never pass the database or the pool again, and get
``NamedTuple`` records whose fields are named, never positional tuples. The SQL itself is built
in ``queries`` (one place, golden-tested); each record here lists the columns its query selects,
in the same order.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from meter.store import queries
from meter.store.clickhouse import ClickHouseStore


class FlowTotal(NamedTuple):
    metric: str
    signatory: str
    value: int


class StockTotal(NamedTuple):
    """A signatory's stocks at an instant; the fields are the stock metrics' names (quotas)."""

    signatory: str
    records: int
    raw_bytes: int
    content_bytes: int
    dataset_records: int  # its largest dataset's records


class SignatoryTotal(NamedTuple):
    signatory: str
    value: int


class DemandPoint(NamedTuple):
    signatory: str
    bucket: date  # the month's first day, or the day
    value: int  # usage plus denied requests


class Snapshot(NamedTuple):
    """The stock item in force now: a dataset ('ds:<id>') or a content object ('obj:<id>')."""

    item: str
    signatory: str
    records: int
    raw_bytes: int
    bytes: int
    time_ms: int


class SignatoryChange(NamedTuple):
    at: datetime
    action: str
    changed_by: str
    record: str  # the record as JSON


class SignatoryState(NamedTuple):
    id: str
    record: str  # the last recorded state, as JSON


class StoredAllocation(NamedTuple):
    policy: str
    computed_at: str
    allotments: str  # JSON
    inputs: str  # JSON
    explanation_en: str
    explanation_fr: str


class Received(NamedTuple):
    """What identifies an event received: its dedup key, and the checks it accounts for."""

    source: str
    id: str
    check_id: str
    check_keys: list[str]
    received_ms: int
    dedup_ns: str = ""  # the bound signatory whose namespace deduplicated it, else ''


class HistoryReader:
    def __init__(self, store: ClickHouseStore, pool: str) -> None:
        self.store = store
        self.pool = pool
        self.db = store.db

    async def flow_totals(self, first_day: date, last_day: date) -> list[FlowTotal]:
        rows = await self.store.rows(*queries.flow_totals(self.db, self.pool, first_day, last_day))
        return [FlowTotal(m, s, int(v)) for m, s, v in rows]

    async def stock_totals(self, before: datetime) -> list[StockTotal]:
        rows = await self.store.rows(*queries.stock_totals(self.db, self.pool, before))
        return [StockTotal(s, int(r), int(raw), int(b), int(big)) for s, r, raw, b, big in rows]

    async def flow_by_signatory(self, metric: str, first_day: date, last_day: date) -> list[SignatoryTotal]:
        rows = await self.store.rows(*queries.flow_by_signatory(self.db, self.pool, metric, first_day, last_day))
        return [SignatoryTotal(s, int(v)) for s, v in rows]

    async def demand_history(self, metric: str, kind: str, first: date, end: date, tz: str) -> list[DemandPoint]:
        rows = await self.store.rows(*queries.demand_history(self.db, self.pool, metric, kind, first, end, tz))
        return [DemandPoint(s, b, int(v)) for s, b, v in rows]

    async def latest_snapshots(self) -> list[Snapshot]:
        rows = await self.store.rows(*queries.latest_snapshots(self.db, self.pool))
        return [Snapshot(i, s, int(r), int(raw), int(b), int(t)) for i, s, r, raw, b, t in rows]

    async def signatory_history(self, signatory: str) -> list[SignatoryChange]:
        return [SignatoryChange._make(r)
                for r in await self.store.rows(*queries.signatory_history(self.db, self.pool, signatory))]

    async def latest_signatories(self) -> list[SignatoryState]:
        return [SignatoryState._make(r) for r in await self.store.rows(*queries.latest_signatories(self.db, self.pool))]

    async def latest_allocation(self, period: str) -> StoredAllocation | None:
        rows = await self.store.rows(*queries.latest_allocation(self.db, self.pool, period))
        return StoredAllocation._make(rows[0]) if rows else None

    async def received_between(self, start: datetime, end: datetime) -> list[Received]:
        rows = await self.store.rows(*queries.received_between(self.db, self.pool, start, end))
        return [Received(src, i, c, list(keys), int(ms), ns) for src, i, c, keys, ms, ns in rows]

    async def history_count(self) -> int:
        """Events and signatory changes of the pool (none: a new pool, not a lost ledger)."""
        return int((await self.store.rows(*queries.history_count(self.db, self.pool)))[0][0])

    async def event_count(self) -> int:
        return int((await self.store.rows(*queries.event_count(self.db, self.pool)))[0][0])
