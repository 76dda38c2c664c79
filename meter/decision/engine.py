"""Decider: asks -> one decide.lua call (shared by concurrent callers) -> decisions.

Finds each decision's keys and limits (the period's counter, the caps, the allotment hash) as
typed ``DecisionArgs`` (the adapter packs them for the script, which records what a batch
consumes as usage facts whose rows the writer builds), turns verdicts into decisions, applies,
when Redis cannot decide, the metric's fail mode, and counts decisions in Prometheus. No
ClickHouse here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from meter.config.settings import PoolConfig
from meter.core import quotas
from meter.core.clock import Clock
from meter.core.errors import ReplicasBehind, Unavailable
from meter.core.periods import FLOW_PERIOD, Period, counter_ttl, period_of
from meter.decision.batcher import Coalescer
from meter.decision.model import Ask, Decision
from meter.ledger.keys import Keys
from meter.ledger.rebuilt import Rebuild, once_rebuilt
from meter.ledger.redis_decisions import RedisDecisions
from meter.ledger.wire import DecisionArgs, MetricArgs, Verdict
from meter.observability.telemetry import Telemetry
from meter.registry.ids import UNATTRIBUTED


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


@dataclass(frozen=True, slots=True)
class Fixed:
    """What every decision of one metric shares while the process lives (the pool file is read
    once), derived from the metric table once rather than on every decision."""

    flow: bool
    stock_counter: str  # a stock's hash; '' for a flow (its period's) and a per-dataset cap
    cap: int
    per_dataset: bool  # ``cap`` is each dataset's
    enforce: bool
    allotted: bool  # its allotment hash is read: an allocation policy is on and it is apportioned


def fixed_by_metric(config: PoolConfig, keys: Keys, allocating: bool) -> dict[str, Fixed]:
    return {m.name: Fixed(m.flow, keys.stock(m.name) if m.stock and not m.per_dataset else "",
                          config.caps.get(m.name), m.per_dataset, config.enforcement.enforced(m.name),
                          allocating and m.apportioned)
            for m in quotas.METRICS}


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
        self._fixed = fixed_by_metric(config, self.keys, self.allocating)
        self._counted: dict[tuple[str, str, str], object] = {}  # Prometheus children, by labels

    async def decide(self, asks: list[Ask]) -> list[Decision]:
        started = time.perf_counter()
        decisions = await self._coalescer.submit(asks)
        self.telemetry.decision_seconds.observe(time.perf_counter() - started)
        return decisions

    def _count(self, decisions: list[Decision]) -> None:
        """Each outcome's counter moved once a script call (all its callers' decisions), by how
        many decisions had it: under load one call carries dozens of callers."""
        outcomes: dict[tuple[str, str, str], int] = {}
        for d in decisions:
            key = (d.metric, _outcome(d), d.scope)
            outcomes[key] = outcomes.get(key, 0) + 1
        for key, n in outcomes.items():
            child = self._counted.get(key)
            if child is None:
                child = self._counted[key] = self.telemetry.decisions.labels(*key)
            child.inc(n)  # type: ignore[attr-defined]

    async def _run(self, asks: list[Ask]) -> list[Decision]:
        self.telemetry.decision_batch.observe(len(asks))
        now = self.clock.now()
        periods: dict[str, Window] = {}
        specs: dict[str, MetricArgs] = {}
        args = [self._args(ask, now, periods, specs) for ask in asks]
        now_ms = int(now.timestamp() * 1000)
        try:  # never answer from an empty ledger: rebuild it first
            verdicts = await once_rebuilt(lambda: self.ledger.decide(args, now_ms), self.rebuild)
        except ReplicasBehind:  # decided and counted, but a failover could lose it: 503, not a degraded answer
            raise
        except Unavailable as exc:  # Redis away, or the ledger lost and ClickHouse away to rebuild it
            decisions = [self._degraded(ask, exc, periods) for ask in asks]
        else:
            decisions = [self._decision(ask, v, periods) for ask, v in zip(asks, verdicts)]
        self._count(decisions)
        return decisions

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
        if metric not in quotas.FLOW_NAMES:
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

    def _args(self, ask: Ask, now: datetime, periods: dict[str, Window], specs: dict[str, MetricArgs]) -> DecisionArgs:
        spec = specs.get(ask.metric)
        if spec is None:
            spec = specs[ask.metric] = self._metric_args(ask.metric, now, periods)
        # positional, in DecisionArgs' order: keywords cost more on every decision
        return DecisionArgs(spec, ask.signatory, ask.host, ask.dataset, ask.amount, ask.consume,
                            self.keys.seen_check(ask.id) if ask.id else "", ask.reserve_id, ask.reserve_ttl_s * 1000)

    def _metric_args(self, metric: str, now: datetime, periods: dict[str, Window]) -> MetricArgs:
        """What the batch's decisions of ``metric`` share: built once a batch, sent once."""
        fixed = self._fixed[metric]
        counter, ttl, label = fixed.stock_counter, 0, "current"
        if fixed.flow:
            window = self._window(metric, now, periods)
            assert window is not None
            counter, label = window.counter, window.label
            ttl = counter_ttl(window.end_ts, now.timestamp())
        allot = self.keys.allotments(metric, label) if fixed.allotted else ""
        return MetricArgs(metric, fixed.flow, fixed.per_dataset, counter, ttl, fixed.cap, allot, fixed.enforce)

    def _decision(self, ask: Ask, v: Verdict, periods: dict[str, Window]) -> Decision:
        window = periods.get(ask.metric)
        note = v.note
        # positional, in Decision's order (allowed ... signatory, reason, degraded, replayed, shadow):
        # built for every decision, and keywords cost more
        decision = Decision(v.allowed, ask.metric, v.scope, v.limit, v.used, max(0, v.remaining),
                            window.reset if window else None, v.signatory, None, None,
                            note == "replay", note == "shadow")
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


def _outcome(d: Decision) -> str:
    return "degraded" if d.degraded else "shadow_denied" if d.shadow else "allowed" if d.allowed else "denied"
