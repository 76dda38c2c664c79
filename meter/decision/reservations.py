"""Reservations: hold capacity for a write of known size, then commit the actual amount or release.

Holding goes through the same decide.lua call as a check (so held capacity and usage are judged
together, atomically); committing and releasing through reservation.lua.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from meter.decision.engine import COUNTER_GRACE_S, FLOW_PERIOD, Decider
from meter.decision.model import Ask, Decision
from meter.errors import LedgerUnavailable, NotFound
from meter.ledger.client import translated
from meter.ledger.redis_decisions import RedisDecisions
from meter.periods import period_of
from meter.settings import FLOW_METRICS


def new_id() -> str:
    return uuid.uuid4().hex


class Reservations:
    def __init__(self, decider: Decider, ledger: RedisDecisions) -> None:
        self.decider = decider
        self.ledger = ledger
        self.keys = ledger.keys
        self.clock = decider.clock
        self.tz = decider.config.tz

    async def hold(self, ask: Ask) -> tuple[Decision, dict[str, Any]]:
        """The decision, and the reservation's body when it was allowed."""
        decision = (await self.decider.decide([ask]))[0]
        if decision.degraded:  # a reservation nobody holds would be a lie: no fail-open here
            raise LedgerUnavailable("Redis is unavailable: no reservation can be held now", retry_after_s=2)
        body = decision.body()
        if decision.allowed:
            expires = self.clock.now() + timedelta(seconds=ask.reserve_ttl_s)
            body.update(id=ask.reserve_id, amount=ask.amount, dataset=ask.dataset or None,
                        expires_at=expires.astimezone(self.tz).isoformat(timespec="seconds"))
        return decision, body

    async def commit(self, rid: str, amount: int) -> dict[str, Any]:
        metric, dataset = await self._held(rid)
        counter, ttl, row = "", 0, b""
        now = self.clock.now()
        if metric in FLOW_METRICS and amount > 0:
            period = period_of(FLOW_PERIOD[metric], now, self.tz)  # type: ignore[arg-type]
            counter, ttl = self.keys.flow(metric, period.label), int((period.end - now).total_seconds()) + COUNTER_GRACE_S
            row = self.decider.usage_row(metric, f"reservation-{rid}", "", dataset, amount, "", now)
        got = await self.ledger.settle("commit", rid, amount, counter, ttl, row, _ms(now))
        return _settled(rid, got, "committed", amount)

    async def release(self, rid: str) -> dict[str, Any]:
        got = await self.ledger.settle("release", rid, 0, "", 0, "", _ms(self.clock.now()))
        return _settled(rid, got, "released", 0)

    async def _held(self, rid: str) -> tuple[str, str]:
        """(metric, dataset) of a reservation held now."""
        async with translated("reservation lookup"):
            metric, dataset = await self.ledger.client.hmget(self.keys.reservation(rid), "metric", "dataset")
        if metric is None:
            raise NotFound(f"no reservation {rid!r} (unknown, settled, or expired)")
        return _text(metric), _text(dataset or b"")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _settled(rid: str, got: list, status: str, amount: int) -> dict[str, Any]:
    metric, sig, reserved, dataset = (v.decode() if isinstance(v, bytes) else v for v in got)
    return {"id": rid, "status": status, "metric": metric, "signatory": sig, "reserved": int(reserved),
            "committed": amount, "dataset": dataset or None}
