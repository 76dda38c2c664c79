"""Reservations: hold capacity for a write of known size, then commit the actual amount or release.

Holding goes through the same decide.lua call as a check (so held capacity and usage are judged
together, atomically); committing and releasing through reservation.lua.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from meter.core import quotas
from meter.core.errors import Forbidden, LedgerUnavailable, NotFound, ReservationExpired
from meter.decision.engine import Decider
from meter.decision.model import Ask, Decision
from meter.ledger.redis_decisions import RedisDecisions
from meter.ledger.wire import Settled


def new_id() -> str:
    return uuid.uuid4().hex


class Reservations:
    def __init__(self, decider: Decider, ledger: RedisDecisions) -> None:
        self.decider = decider
        self.ledger = ledger
        self.keys = ledger.keys
        self.clock = decider.clock
        self.tz = decider.config.tz

    async def hold(self, ask: Ask) -> tuple[Decision, str | None]:
        """The decision, and when the reservation expires (RFC 3339, pool time) if it was allowed."""
        decision = (await self.decider.decide([ask]))[0]
        if decision.degraded:  # a reservation nobody holds would be a lie: no fail-open here
            raise LedgerUnavailable("Redis is unavailable: no reservation can be held now", retry_after_s=2)
        if not decision.allowed:
            return decision, None
        expires = self.clock.now() + timedelta(seconds=ask.reserve_ttl_s)
        return decision, expires.astimezone(self.tz).isoformat(timespec="seconds")

    async def commit(self, rid: str, amount: int, bound: str | None = None) -> dict[str, Any]:
        metric = await self._metric_of(rid, bound)
        counter, ttl = "", 0
        now = self.clock.now()
        if quotas.is_flow(metric) and amount > 0:
            counter, ttl = self.decider.counter(metric, now)
        got = await self.ledger.settle("commit", rid, amount, counter, ttl, _ms(now))
        return _settled(rid, got, "committed", amount)

    async def release(self, rid: str, bound: str | None = None) -> dict[str, Any]:
        if bound is not None:
            await self._metric_of(rid, bound)
        got = await self.ledger.settle("release", rid, 0, "", 0, _ms(self.clock.now()))
        return _settled(rid, got, "released", 0)

    async def _metric_of(self, rid: str, bound: str | None) -> str:
        held = await self.ledger.reserved(rid)
        if held is None:
            await self._refuse_expired(rid)
            raise NotFound(f"no reservation {rid!r} (unknown or settled)")
        if bound is not None and held[1] != bound:  # a bound gateway settles its signatory's only
            raise Forbidden(f"this token is bound to signatory {bound!r}; the reservation is another's")
        return held[0]

    async def _refuse_expired(self, rid: str) -> None:
        """One that the sweep released is remembered a day: committing it is a conflict."""
        if await self.ledger.was_expired(rid):
            raise ReservationExpired(rid)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _settled(rid: str, got: Settled, status: str, amount: int) -> dict[str, Any]:
    return {"id": rid, "status": status, "metric": got.metric, "signatory": got.signatory,
            "reserved": got.reserved, "committed": amount, "dataset": got.dataset or None}
