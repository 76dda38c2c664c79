"""Allocator: the allotments in force, computed from the registry and history, stored and read.

The policies are pure maths (``policies``); this is their I/O. A computation reads the registry
(who is active, for how much of the period, with which weight), the demand forecast for
``max_min_fair`` (ClickHouse history), and writes the result three ways, atomically for Redis
(``meter/ledger/allotments.py``, the only writer of what decide.lua reads): the allotment
hashes, a document for ``GET /v1/allocations``, and a row for the ClickHouse history (through
the writer's stream).

Month allocations carry ``api_calls`` and the stocks (their "period" is the current state); day
allocations carry ``update_bytes`` (a daily quota). Both are recomputed at their period start,
when the registry changes, and on request.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta
from typing import Any

import orjson

from meter.allocation.base import AllocationError, Allotment, Member, Params, Policy, apportion
from meter.allocation.demand import forecast, with_overrides
from meter.allocation.drf import joint_policies
from meter.allocation.explain import Lang, explanation
from meter.allocation.members import members_for, weight_basis
from meter.allocation.policies import policy_named
from meter.config.settings import PoolConfig
from meter.core import quotas
from meter.core.clock import Clock
from meter.core.errors import Conflict
from meter.core.periods import Period, day_of, month_of
from meter.ledger.allotments import AllotmentHash, AllotmentStore, Elastic
from meter.observability.telemetry import Telemetry
from meter.store.clickhouse import ClickHouseStore
from meter.store.history import HistoryReader
from meter.store.rows import ch_time

log = logging.getLogger("meter.allocation")
MONTH_METRICS = quotas.allotted_in("month")  # the flows of the month, and the stocks
DAY_METRICS = quotas.allotted_in("day")
STOCKS = tuple(m.name for m in quotas.APPORTIONED if m.stock)
DEMAND_POLICIES = ("max_min_fair", "elastic")  # the policies that share by forecast demand
KEEP_S = 40 * 86_400  # documents and hashes outlive their period (late reads, reports)


def metrics_of(period: Period) -> tuple[str, ...]:
    return MONTH_METRICS if period.kind == "month" else DAY_METRICS


class Allocator:
    def __init__(self, allotments: AllotmentStore, registry: Any, store: ClickHouseStore | None,
                 config: PoolConfig, clock: Clock, telemetry: Telemetry) -> None:
        self.allotments = allotments
        self.registry = registry
        self.store = store
        self.config = config
        self.section = config.allocation
        self.policy = policy_named(self.section.policy)
        self.params = Params.from_section(self.section)
        self.clock = clock
        self.telemetry = telemetry
        self.stale_cause: str | None = None  # why the allotments in force could not be recomputed

    @property
    def enabled(self) -> bool:
        return self.section.policy != "none"

    # computing

    async def compute(self, period: Period, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The allocation of ``period`` from today's registry (or ``records`` read from it) and
        history (nothing stored)."""
        records = await self.registry.list() if records is None else records
        names = {r["id"]: r.get("name") or r["id"] for r in records}
        per_metric: dict[str, Allotment] = {}
        inputs: dict[str, Any] = {}
        texts: dict[Lang, list[str]] = {"en": [], "fr": []}
        per_members = {}
        for metric in metrics_of(period):
            demand = await self._demand(metric, period) if self.section.policy in DEMAND_POLICIES else None
            per_members[metric] = members_for(records, self._basis_period(metric, period),
                                              weight_basis(self.section.policy, self.section.weight), demand)
        joint = self._joint(per_members)
        for metric, members in per_members.items():
            cap = self.config.caps.get(metric)
            result = apportion(joint.get(metric, self.policy), cap, members, self.params)
            per_metric[metric] = result
            inputs[metric] = {"cap": cap, "members": [
                {"id": m.id, "weight": m.weight, "active_fraction": m.active_fraction, "demand": m.demand}
                for m in members], "burst": result.burst}
            for lang in texts:
                texts[lang].append(explanation(self.section.policy, metric, period.label, cap, members, result,
                                               self.params, lang, names))
        return self._document(period, per_metric, inputs, texts)

    def _joint(self, per_members: dict[str, list[Member]]) -> dict[str, Policy]:
        """With ``stocks = "drf"`` (max_min_fair, elastic): the stocks' shares, computed jointly."""
        stocks = {m: per_members[m] for m in STOCKS if m in per_members}
        if self.section.stocks != "drf" or self.section.policy not in DEMAND_POLICIES or not stocks:
            return {}
        caps = {m: self.config.caps.get(m) for m in stocks}
        return dict(joint_policies(self.section.policy, caps, stocks, self.params))

    def _basis_period(self, metric: str, period: Period) -> Period:
        """Flows count partial periods pro rata; a stock's "period" is the current state: who is
        active today (or on the first day of a future period) counts in full."""
        if metric not in STOCKS:
            return period
        return day_of(max(self.clock.now(), period.start), self.config.tz)

    def _document(self, period: Period, per_metric: dict[str, Allotment], inputs: dict[str, Any],
                  texts: dict[Lang, list[str]]) -> dict[str, Any]:
        signatories: dict[str, dict[str, int]] = {}
        for metric, result in per_metric.items():
            for sid, value in sorted(result.shares.items()):
                signatories.setdefault(sid, {})[metric] = value
        return {
            "pool": self.config.pool.id, "period": period.label, "policy": self.section.policy,
            "projected": False, "computed_at": self.clock.now().astimezone(self.config.tz).isoformat(),
            "signatories": signatories, "burst": {m: r.burst for m, r in per_metric.items() if r.burst},
            "borrowing": self.section.borrowing,
            "explanation": " ".join(texts["en"]), "explanation_fr": " ".join(texts["fr"]), "inputs": inputs,
        }

    async def _demand(self, metric: str, period: Period) -> dict[str, int | None]:
        history = await self._history(metric, period) if self.store is not None else {}
        overrides: dict[str, int | None] = dict(self.section.demand.get(metric, {}))
        return with_overrides(forecast(history), overrides)

    async def _history(self, metric: str, period: Period) -> dict[str, list[int]]:
        """Usage plus denials of the recent comparable periods (3 months, or 28 days), oldest first."""
        assert self.store is not None
        history = HistoryReader(self.store, self.config.pool.id)
        if metric in STOCKS:  # StockTotal names its fields after the stock metrics
            return {t.signatory: [getattr(t, metric)] for t in await history.stock_totals(self.clock.now())}
        if period.kind == "month":
            months = [period.previous()]
            for _ in range(2):
                months.insert(0, months[0].previous())
            buckets = [m.first_day.isoformat() for m in months]
        else:
            buckets = [(period.first_day - timedelta(days=n)).isoformat() for n in range(28, 0, -1)]
        points = await history.demand_history(metric, period.kind, date.fromisoformat(buckets[0]), period.first_day,
                                              self.config.pool.timezone)
        found: dict[str, dict[str, int]] = {}
        for p in points:
            found.setdefault(p.signatory, {})[str(p.bucket)] = p.value
        # a period without a row was a quiet one: 0, not skipped (a partner gone quiet is forecast
        # low, then the floor, not at its old level)
        return {sid: [values.get(b, 0) for b in buckets] for sid, values in found.items()}

    # storing

    async def recompute(self, period: Period | None = None, trigger: str = "request") -> dict[str, Any]:
        """Compute and store the allocation of ``period`` (default: the current month and day)."""
        now = self.clock.now()
        if period is not None and period.end <= now:
            raise Conflict(f"{period.label} is over: its allocation is history and is not recomputed")
        periods = [period] if period is not None else [month_of(now, self.config.tz), day_of(now, self.config.tz)]
        docs = []
        records = await self.registry.list()  # one read: what is computed is what is fingerprinted
        for p in periods:
            try:
                doc = await self.compute(p, records)
            except AllocationError:
                self.telemetry.allocation_errors.inc()
                raise
            await self._store(p, doc, trigger, current=p.contains(now), fingerprint=self._fingerprint(records))
            docs.append(doc)
        return docs[0]

    async def _store(self, period: Period, doc: dict[str, Any], trigger: str, current: bool,
                     fingerprint: str) -> None:
        ttl = int((period.end - self.clock.now()).total_seconds()) + KEEP_S
        hashes = [self._allot_hash(metric, label, doc, period)
                  for metric in metrics_of(period)
                  for label in ((period.label, "current") if metric in STOCKS and current else (period.label,))]
        await self.allotments.store(period.label, hashes, doc, fingerprint, self._history_row(doc, trigger), ttl)
        log.info("allocation stored", extra={"period": period.label, "policy": doc["policy"], "trigger": trigger})

    def _allot_hash(self, metric: str, label: str, doc: dict[str, Any], period: Period) -> AllotmentHash:
        """What decide.lua reads: the shares, borrowing, the burst reserve (reserved) and, under elastic,
        the period a flow's protection index paces (stocks stay hard)."""
        shares = {sid: per[metric] for sid, per in doc["signatories"].items() if metric in per}
        burst_cap = doc["burst"].get(metric, 0) if self.section.policy == "reserved" else None
        elastic = None
        if self.section.policy == "elastic" and metric not in STOCKS:
            start = int(period.start.timestamp())
            elastic = Elastic(start, int(period.end.timestamp()) - start)
        return AllotmentHash(metric, label, shares, self.section.borrowing, burst_cap, elastic)

    def _history_row(self, doc: dict[str, Any], trigger: str) -> bytes:
        return orjson.dumps({
            "pool": doc["pool"], "period": doc["period"], "computed_at": ch_time(self.clock.now()),
            "policy": doc["policy"], "trigger": trigger, "allotments": orjson.dumps(doc["signatories"]).decode(),
            "inputs": orjson.dumps(doc["inputs"]).decode(), "explanation_en": doc["explanation"],
            "explanation_fr": doc["explanation_fr"]})

    async def fingerprint(self) -> str:
        """What the allocation depends on, hashed: a change means recompute."""
        return self._fingerprint(await self.registry.list())

    def _fingerprint(self, records: list[dict[str, Any]]) -> str:
        basis = orjson.dumps([records, self.section.model_dump(), self.config.caps.model_dump()],
                             option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(basis).hexdigest()

    # reading

    async def get(self, period: Period) -> dict[str, Any]:
        """The stored allocation of ``period``; for one with none stored, a projection."""
        doc = await self.stored(period)
        if doc is None:
            doc = await self.compute(period)
            doc["projected"] = True
        return doc

    async def stored(self, period: Period) -> dict[str, Any] | None:
        """The allocation stored for ``period`` (Redis, then the ClickHouse history), or None."""
        doc = await self.allotments.document(period.label)
        if doc is not None:
            return doc
        return await self._from_history(period)

    async def _from_history(self, period: Period) -> dict[str, Any] | None:
        if self.store is None:
            return None
        row = await HistoryReader(self.store, self.config.pool.id).latest_allocation(period.label)
        if row is None:
            return None
        return {"pool": self.config.pool.id, "period": period.label, "policy": row.policy, "projected": False,
                "computed_at": row.computed_at, "signatories": orjson.loads(row.allotments),
                "inputs": orjson.loads(row.inputs), "explanation": row.explanation_en,
                "explanation_fr": row.explanation_fr}

    async def allotments_for_usage(self, period: Period) -> dict[str, dict[str, int]]:
        """{signatory: {metric: allotment}} for /v1/usage, for the metrics whose period this is."""
        if not self.enabled:
            return {}
        doc = await self.stored(period)  # a projection is no allotment in force
        return {} if doc is None else doc["signatories"]

    # keeping it current

    async def ensure_current(self, trigger: str = "schedule") -> None:
        """Store the current month's and day's allocations if missing or stale (registry changed)."""
        if not self.enabled:
            return
        if not await self.allotments.ledger_complete():
            return  # Redis lost the registry too: the ledger rebuild comes first, then this
        now = self.clock.now()
        fingerprint = await self.fingerprint()
        causes: list[str] = []
        for period in (month_of(now, self.config.tz), day_of(now, self.config.tz)):
            stored = await self.allotments.fingerprint(period.label)
            if stored is None or stored != fingerprint:
                try:
                    await self.recompute(period, trigger if stored is None else "registry")
                except AllocationError as exc:  # the allotments in force stay until it is fixed
                    causes.append(exc.message)
        self._note_staleness(causes[0] if causes else None)

    def _note_staleness(self, cause: str | None) -> None:
        """Say once per change of cause (this runs every 10 s) that the allotments in force are
        stale, or current again; the gauge and /readyz say it all along."""
        if cause == self.stale_cause:
            return
        if cause is None:
            log.info("allocation computed again; the allotments in force are current")
        else:
            log.error("allocation failed; the allotments in force stay", extra={"error": cause})
        self.stale_cause = cause
        self.telemetry.allotments_stale.set(0 if cause is None else 1)
