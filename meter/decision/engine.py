"""Decider: asks -> one decide.lua call (shared by concurrent callers) -> decisions.

Builds each decision's script arguments (the period's counter, the caps, the allotment hash,
the row a consumed check adds to the history), applies shadow mode and, when Redis cannot
decide, the metric's fail mode, and counts decisions in Prometheus. No ClickHouse here.
"""
from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from meter.clock import Clock
from meter.decision.batcher import Coalescer
from meter.decision.model import Ask, Decision
from meter.errors import Unavailable
from meter.ingest.validation import FLOW_TYPES
from meter.ledger.client import as_text
from meter.ledger.redis_decisions import LedgerLost, RedisDecisions
from meter.telemetry import Telemetry
from meter.periods import FLOW_PERIOD, Period, counter_ttl, period_of
from meter.registry.ids import UNATTRIBUTED
from meter.settings import FLOW_METRICS, PoolConfig
from meter.store.rows import usage_template

EVENT_TYPE = {metric: etype for etype, metric in FLOW_TYPES.items()}  # the event a flow's usage is
CHECK_SOURCE = "meter/check"
SEP = "\x1f"

Rebuild = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Window:
    """A flow metric's current period as the hot path needs it, computed once per period."""

    period: Period
    label: str
    counter: str
    start_ts: float
    end_ts: float
    reset: str

    def holds(self, ts: float) -> bool:
        return self.start_ts <= ts < self.end_ts


class Decider:
    def __init__(self, ledger: RedisDecisions, config: PoolConfig, clock: Clock, telemetry: Telemetry,
                 rebuild: Rebuild | None = None) -> None:
        self.ledger = ledger
        self.keys = ledger.keys
        self.config = config
        self.clock = clock
        self.telemetry = telemetry
        self.rebuild = rebuild
        self.allocating = config.allocation.policy != "none"
        self._coalescer: Coalescer[Ask, Decision] = Coalescer(self._run)
        self._windows: dict[str, Window] = {}
        self._counted: dict[tuple[str, str, str], object] = {}  # Prometheus children, by labels
        self._ids = itertools.count()
        self._run_id = uuid.uuid4().hex[:12]

    async def decide(self, asks: list[Ask]) -> list[Decision]:
        started = time.perf_counter()
        decisions = await self._coalescer.submit(asks)
        self.telemetry.decision_seconds.observe(time.perf_counter() - started)
        for d in decisions:
            self._count(d)
        return decisions

    def _count(self, d: Decision) -> None:
        outcome = "degraded" if d.degraded else "shadow_denied" if d.shadow else "allowed" if d.allowed else "denied"
        key = (d.metric, outcome, d.scope)
        child = self._counted.get(key)
        if child is None:
            child = self._counted[key] = self.telemetry.decisions.labels(*key)
        child.inc()  # type: ignore[attr-defined]

    async def _run(self, asks: list[Ask]) -> list[Decision]:
        self.telemetry.decision_batch.observe(len(asks))
        now = self.clock.now()
        periods: dict[str, Window] = {}
        metas = [self._meta(ask, now, periods) for ask in asks]
        try:
            rows = await self._decide_once_rebuilt(metas, now)
        except Unavailable as exc:  # Redis away, or the ledger lost and ClickHouse away to rebuild it
            return [self._degraded(ask, exc, periods) for ask in asks]
        return [self._decision(ask, row, periods) for ask, row in zip(asks, rows)]

    async def _decide_once_rebuilt(self, metas: list[str], now: datetime) -> list[list]:
        now_ms = int(now.timestamp() * 1000)
        templates = self._templates(now)
        try:
            return await self.ledger.decide(metas, now_ms, templates)
        except LedgerLost:
            if self.rebuild is None:
                raise
            await self.rebuild()  # never answer from an empty ledger
            return await self.ledger.decide(metas, now_ms, templates)

    def _templates(self, now: datetime) -> tuple[bytes, bytes]:
        """History rows of this batch's consumption (summed per signatory and dataset by the script)."""
        prefix = f"{self._run_id}-{next(self._ids)}-"
        return (self.usage_template("api_calls", f"{prefix}api_calls-", now),
                self.usage_template("update_bytes", f"{prefix}update_bytes-", now))

    def usage_template(self, metric: str, id_prefix: str, now: datetime) -> bytes:
        """The history row of usage the hot path records itself (``rows.usage_template``)."""
        day = now.astimezone(self.config.tz).date()
        return usage_template(self.config.pool.id, EVENT_TYPE[metric], CHECK_SOURCE, id_prefix, now, day)

    def counter(self, metric: str, now: datetime) -> tuple[str, int]:
        """A flow's counter key for the current period, and how long it must live."""
        window = self._window(metric, now, {})
        assert window is not None, f"{metric} is not a flow"
        return window.counter, counter_ttl(window.end_ts, now.timestamp())

    def window_seconds(self, metric: str, now: datetime) -> int:
        """Length of a flow's current period (a DST month is 743 or 745 hours)."""
        window = self._window(metric, now, {})
        assert window is not None, f"{metric} is not a flow"
        return int(window.end_ts - window.start_ts)

    def _window(self, metric: str, now: datetime, periods: dict[str, Window]) -> Window | None:
        """The metric's current period (None for stocks), the same for a whole batch."""
        if metric not in FLOW_METRICS:
            return None
        window = periods.get(metric)
        if window is None:
            window = self._windows.get(metric)
            if window is None or not window.holds(now.timestamp()):
                period = period_of(FLOW_PERIOD[metric], now, self.config.tz)
                window = self._windows[metric] = Window(period, period.label, self.keys.flow(metric, period.label),
                                                        period.start.timestamp(), period.end.timestamp(),
                                                        period.reset_iso())
            periods[metric] = window
        return window

    def _meta(self, ask: Ask, now: datetime, periods: dict[str, Window]) -> str:
        metric = ask.metric
        window = self._window(metric, now, periods)
        counter, ttl, label = "", 0, "current"
        if window is not None:
            counter, label = window.counter, window.label
            ttl = counter_ttl(window.end_ts, now.timestamp())
        elif metric != "dataset_records":
            counter = self.keys.stock(metric)
        cap = self.config.caps.get(metric)
        dscap = str(cap) if metric == "dataset_records" else ""
        allot = self.keys.allotments(metric, label) if self.allocating and metric != "dataset_records" else ""
        idkey = self.keys.seen_check(ask.id) if ask.id else ""
        enforce = "1" if self.config.enforcement.enforced(metric) else "0"
        mode = "r" if ask.reserve_id else "c"
        return SEP.join((mode, metric, ask.signatory, ask.host, ask.dataset, str(ask.amount),
                         "1" if ask.consume else "0", enforce, counter, str(ttl), str(cap), dscap, allot, idkey,
                         ask.reserve_id, str(ask.reserve_ttl_s * 1000)))

    def _decision(self, ask: Ask, row: list, periods: dict[str, Window]) -> Decision:
        allowed, scope, limit, used, remaining, sig, note = row
        note = as_text(note)
        window = periods.get(ask.metric)
        decision = Decision(
            allowed=int(allowed) == 1, metric=ask.metric, scope=as_text(scope), limit=int(limit), used=int(used),
            remaining=max(0, int(remaining)), reset=window.reset if window else None,
            signatory=as_text(sig), replayed=note == "replay", shadow=note == "shadow")
        if not decision.allowed:
            decision.reason = f"{decision.scope} {ask.metric} limit {decision.limit} would be exceeded"
            if note == "protected":  # elastic: what stopped it is the others' protection, not a fixed share
                decision.reason = (f"signatory {ask.metric}: its guarantee is used up, and what the others keep "
                                   f"protected leaves {decision.remaining} to borrow")
        elif decision.shadow:
            decision.reason = "shadow mode: this request would have been denied"
        elif decision.replayed:
            decision.reason = "already decided: this id was counted once before"
        return decision

    def _degraded(self, ask: Ask, exc: Unavailable, periods: dict[str, Window]) -> Decision:
        mode = self.config.enforcement.fail_mode(ask.metric)
        self.telemetry.degraded.labels(ask.metric, mode).inc()
        window = periods.get(ask.metric)
        return Decision(allowed=mode == "fail_open", metric=ask.metric, scope="pool",
                        limit=self.config.caps.get(ask.metric), used=None, remaining=None,
                        reset=window.reset if window else None, signatory=ask.signatory or UNATTRIBUTED,
                        reason=f"degraded ({mode}): {exc.message}", degraded=mode)
