"""Ingestor: validated events -> arguments of the ledger's ingest script -> (accepted, duplicates).

The service side of ``POST /v1/events``: validates the whole batch, enforces a bound producer's
signatory, attributes unknown subjects to ``unattributed``, and hands the batch to one Redis
script, so an event is counted and in the stream before the producer hears "accepted".
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from meter.clock import Clock
from meter.errors import Forbidden
from meter.ingest.validation import FLOW_TYPES, UsageEvent, validate_events
from meter.keys import Keys
from meter.ledger.redis_ledger import LedgerLost, RedisLedger
from meter.registry.ids import UNATTRIBUTED
from meter.telemetry import Telemetry
from meter.periods import FLOW_PERIOD, Period, counter_ttl
from meter.store.rows import event_row



@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


class Ingestor:
    def __init__(self, ledger: RedisLedger, pool: str, tz: ZoneInfo, clock: Clock, telemetry: Telemetry,
                 max_events: int, rebuild: Callable[[], Awaitable[None]] | None = None) -> None:
        self.ledger = ledger
        self.keys: Keys = ledger.keys
        self.pool = pool
        self.tz = tz
        self.clock = clock
        self.telemetry = telemetry
        self.max_events = max_events
        self.rebuild = rebuild
        self._periods: dict[tuple[str, date], Period] = {}

    async def ingest(self, raw: list[Any], bound_signatory: str | None = None) -> IngestResult:
        received = self.clock.now()
        try:
            events = validate_events(raw, received, self.max_events)
            _check_binding(events, bound_signatory)
        except Exception:
            self.telemetry.events_rejected.inc(len(raw))
            raise
        # a subject-less event (a collector's) goes to unattributed until attribution by host or
        # publisher is built: its subject stays None here, and data.host / data.publisher are kept
        registered = await self.ledger.registered({ev.subject for ev in events if ev.subject is not None})
        groups = self._script_args(events, registered, received.timestamp())
        try:
            accepted, dups, unattributed = await self.ledger.ingest(groups, len(events))
        except LedgerLost:
            if self.rebuild is None:
                raise
            await self.rebuild()  # never count into an empty ledger
            accepted, dups, unattributed = await self.ledger.ingest(groups, len(events))
        self.telemetry.events_ingested.inc(accepted)
        self.telemetry.events_duplicate.inc(dups)
        self.telemetry.events_unattributed.inc(unattributed)
        return IngestResult(accepted, dups)

    def _period(self, kind: str, day: date) -> Period:
        key = (kind, day)
        period = self._periods.get(key)
        if period is None:
            first = day if kind == "day" else day.replace(day=1)
            period = self._periods[key] = Period(kind, first, self.tz)  # type: ignore[arg-type]
            if len(self._periods) > 4096:
                self._periods.clear()
        return period

    def _script_args(self, events: list[UsageEvent], registered: set[str], received: float) -> list[str | bytes]:
        args: list[str | bytes] = []
        flows: dict[tuple[str, date], tuple[str, int]] = {}  # (metric, day) -> (counter key, ttl)
        now = self.clock.now()
        for ev in events:
            sig = ev.subject if ev.subject in registered else UNATTRIBUTED
            day = ev.time.astimezone(self.tz).date()
            kind, key, a, b, t = self._ledger_effect(ev, day, now, flows)
            alias = self.keys.seen_check(ev.check_id) if ev.check_id else ""
            meta = f"{kind}\x1f{sig}\x1f{key}\x1f{a}\x1f{b}\x1f{t}\x1f{alias}"
            args += [self.keys.seen(ev.source, ev.id), meta, event_row(self.pool, ev, sig, day, received)]
        return args

    def _flow_counter(self, metric: str, day: date, now: datetime) -> tuple[str, int]:
        period = self._period(FLOW_PERIOD[metric], day)
        return self.keys.flow(metric, period.label), counter_ttl(period.end.timestamp(), now.timestamp())

    def _ledger_effect(self, ev: UsageEvent, day: date, now: datetime,
                       flows: dict[tuple[str, date], tuple[str, int]]) -> tuple[str, str, int, int, int]:
        metric = FLOW_TYPES.get(ev.type)
        if metric is not None:
            counter = flows.get((metric, day))
            if counter is None:
                counter = flows[(metric, day)] = self._flow_counter(metric, day, now)
            return "f", counter[0], ev.amount, 0, counter[1]
        t_ms = int(ev.time.timestamp() * 1000)
        if ev.type == "content.bytes":
            return "c", self.keys.content_object(ev.object), ev.amount, 0, t_ms
        if ev.type == "dataset.deleted":
            return "d", self.keys.dataset(ev.dataset), 0, 0, t_ms
        return "d", self.keys.dataset(ev.dataset), ev.amount, ev.raw_bytes, t_ms


def _check_binding(events: list[UsageEvent], bound: str | None) -> None:
    if bound is None:
        return
    wrong = [{"index": i, "field": "subject", "reason": f"this token may only send events for {bound!r}"}
             for i, ev in enumerate(events) if ev.subject != bound]
    if wrong:
        raise Forbidden(f"this token is bound to signatory {bound!r}", wrong)

