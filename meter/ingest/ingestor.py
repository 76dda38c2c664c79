"""Ingestor: validated events -> each one's effect on the ledger -> (accepted, duplicates).

The service side of ``POST /v1/events``: validates the whole batch, enforces a bound producer's
signatory, attributes unknown subjects to ``unattributed``, and hands the batch, as typed
``LedgerEvent``s, to one Redis script call, so an event is counted and in the stream before the
producer hears "accepted".
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from meter.attribution.events import Attribution
from meter.compliance.checks import check
from meter.core import quotas
from meter.core.clock import Clock
from meter.core.errors import Forbidden, TooManyItems, Unavailable
from meter.core.periods import FLOW_PERIOD, Period, counter_ttl
from meter.ingest.event import UsageEvent, Validate
from meter.ledger.keys import Keys
from meter.ledger.rebuilt import Rebuild, once_rebuilt
from meter.ledger.redis_ledger import RedisLedger
from meter.ledger.wire import IngestResult, LedgerEffect, LedgerEvent
from meter.observability.telemetry import Telemetry
from meter.registry.ids import UNATTRIBUTED
from meter.store.rows import event_row, metadata_row

log = logging.getLogger("meter.ingest")
PastTotal = Callable[[str, Period], Awaitable[int]]  # a flow's pool total of a period, from history


class Ingestor:
    def __init__(self, ledger: RedisLedger, pool: str, tz: ZoneInfo, clock: Clock, telemetry: Telemetry,
                 validate: Validate, rebuild: Rebuild | None = None,
                 attribution: Attribution | None = None, past_total: PastTotal | None = None) -> None:
        self.attribution = attribution or Attribution(ledger.owners(), {})
        self.ledger = ledger
        self.keys: Keys = ledger.keys
        self.pool = pool
        self.tz = tz
        self.clock = clock
        self.telemetry = telemetry
        self.validate = validate  # the contract's check, handed in by the edge (contract/validation.py)
        self.past_total = past_total
        self.rebuild = rebuild
        self._periods: dict[tuple[str, date], Period] = {}

    async def ingest(self, raw: list[Any], bound_signatory: str | None = None) -> IngestResult:
        received = self.clock.now()
        try:
            events = self.validate(raw, received)
            events = await self._attribute(events)
            _check_binding(events, bound_signatory)
        except Exception:
            self.telemetry.events_rejected.inc(len(raw))
            raise
        async def count() -> IngestResult:
            # the registry is read inside: after a rebuild, the signatories are those it restored
            registered = await self.ledger.registered({ev.subject or UNATTRIBUTED for ev in events})
            past: dict[str, Period] = {}
            batch = self._ledger_events(events, registered, received.timestamp(), bound_signatory or "", past)
            await self._seed_guards(past)
            return await self.ledger.ingest(batch, bound=bound_signatory is not None)

        try:  # never count into an empty ledger: rebuild it first
            result = await once_rebuilt(count, self.rebuild)
        except TooManyItems as exc:
            self.telemetry.stock_refused.labels("dataset" if exc.kind == "datasets" else "object").inc()
            raise
        self.telemetry.events_ingested.inc(result.accepted)
        self.telemetry.events_duplicate.inc(result.duplicates)
        self.telemetry.events_unattributed.inc(result.unattributed)
        for moved in result.transfers:  # an unbound collector moved a dataset or object (DESIGN §4)
            self.telemetry.stock_transfers.inc()
            log.info("stock transferred", extra={"item": moved.item, "from": moved.old, "to": moved.new})
        return result

    async def _attribute(self, events: list[UsageEvent]) -> list[UsageEvent]:
        """Events sent without a subject get the one the service finds for them (DESIGN §4)."""
        if all(ev.subject for ev in events):
            return events
        owners = [(ev.subject, ev.type, {"host": ev.host, "publisher": ev.publisher, "dataset": ev.dataset})
                  for ev in events]
        subjects = await self.attribution.subjects(owners)
        return [ev if ev.subject == s else ev._replace(subject=s) for ev, s in zip(events, subjects)]

    def _period(self, kind: str, day: date) -> Period:
        key = (kind, day)
        period = self._periods.get(key)
        if period is None:
            first = day if kind == "day" else day.replace(day=1)
            period = self._periods[key] = Period(kind, first, self.tz)  # type: ignore[arg-type]
            if len(self._periods) > 4096:
                self._periods.clear()
        return period

    async def _seed_guards(self, past: dict[str, Period]) -> None:
        """A period that is over has no counter in Redis: its 2^53 - 1 guard starts from its total
        in history (events still in the stream aside), once per dedup window (DESIGN §4)."""
        if not past or self.past_total is None:
            return
        for key in await self.ledger.missing(list(past)):
            metric = key.split(":")[-2]
            try:
                total = await self.past_total(metric, past[key])
            except Unavailable:
                continue  # ClickHouse away: the guard starts from this batch
            await self.ledger.seed_guard(key, total)

    def _ledger_events(self, events: list[UsageEvent], registered: set[str], received: float, namespace: str,
                       past: dict[str, Period]) -> list[LedgerEvent]:
        out: list[LedgerEvent] = []
        flows: dict[tuple[str, date], tuple[str, int]] = {}  # (metric, day) -> (counter key, ttl)
        now = self.clock.now()
        for ev in events:
            sig = ev.subject if ev.subject in registered else UNATTRIBUTED
            day = ev.time.astimezone(self.tz).date()
            alias = self.keys.seen_check(ev.check_id) if ev.check_id else ""
            row = metadata_row(self.pool, ev, sig, received, check(ev.dataset, ev.metas or {}, ev.last_update, now)) \
                if ev.type == "dataset.metadata" else event_row(self.pool, ev, sig, day, received, namespace)
            effect = self._ledger_effect(ev, day, now, flows)
            if effect.kind == "f" and effect.t < 0:
                past[effect.key] = self._period(FLOW_PERIOD[quotas.FLOW_BY_EVENT[ev.type]], day)
            out.append(LedgerEvent(self.keys.seen(ev.source, ev.id, namespace), sig, effect, alias, row))
        return out

    def _flow_counter(self, metric: str, day: date, now: datetime) -> tuple[str, int]:
        """The period's counter and how long it must live; a period over: its guard, and minus the
        time the guard lives (ingest.lua)."""
        period = self._period(FLOW_PERIOD[metric], day)
        ttl = counter_ttl(period.end.timestamp(), now.timestamp())
        return self.keys.flow(metric, period.label), ttl if ttl > 0 else -self.ledger.dedup_window_s

    def _ledger_effect(self, ev: UsageEvent, day: date, now: datetime,
                       flows: dict[tuple[str, date], tuple[str, int]]) -> LedgerEffect:
        """The ledger effect of each event type (a new metric adds its own here and in ingest.lua)."""
        metric = quotas.FLOW_BY_EVENT.get(ev.type)
        if metric is not None:
            counter = flows.get((metric, day))
            if counter is None:
                counter = flows[(metric, day)] = self._flow_counter(metric, day, now)
            return LedgerEffect("f", counter[0], ev.amount, 0, counter[1])
        t_ms = int(ev.time.timestamp() * 1000)
        if ev.type == "content.bytes":
            return LedgerEffect("c", self.keys.content_object(ev.object), ev.amount, 0, t_ms)
        if ev.type == "dataset.deleted":
            return LedgerEffect("d", self.keys.dataset(ev.dataset), 0, 0, t_ms)
        if ev.type == "dataset.metadata":  # stored for the compliance checks (DESIGN §12), no counter moves
            return LedgerEffect("m", self.keys.dataset(ev.dataset), 0, 0, t_ms)
        return LedgerEffect("d", self.keys.dataset(ev.dataset), ev.amount, ev.raw_bytes, t_ms)


def _check_binding(events: list[UsageEvent], bound: str | None) -> None:
    if bound is None:
        return
    wrong = [{"index": i, "field": "subject", "reason": f"this token may only send events for {bound!r}"}
             for i, ev in enumerate(events) if ev.subject != bound]
    if wrong:
        raise Forbidden(f"this token is bound to signatory {bound!r}", wrong)

