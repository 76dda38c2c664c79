"""ReportRecords: the monthly reports' send records in Redis (``meter/reports/service.py`` decides).

- ``keys.report_sends(month)``: a hash, signatory (or ``pool``) -> its send record (JSON:
  ``send_no``, ``message_id``, ``recipients``; or ``{"status": "no_recipient"}``);
- ``keys.reports_todo``: a set of ``"month/id"`` reports queued but not yet in the outbox;
- ``keys.lock("reports_auto:<month>")``: the scheduled send's marker that a month was queued
  (a plain key with a TTL, kept 40 days).
A queued report's record and its to-do entry are written in one MULTI.
"""
from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as redis

from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys


class ReportRecords:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def of_month(self, month: str) -> dict[str, dict[str, Any]]:
        """Every send record of ``month``, by signatory (or ``pool``)."""
        async with translated("report records"):
            raw = await self.client.hgetall(self.keys.report_sends(month))
        return {as_text(k): orjson.loads(v) for k, v in raw.items()}

    async def get(self, month: str, sig: str) -> dict[str, Any]:
        """The send record of one report ({} when there is none)."""
        async with translated("report records"):
            raw = await self.client.hget(self.keys.report_sends(month), sig)
        return orjson.loads(raw) if raw else {}

    async def set(self, month: str, sig: str, record: dict[str, Any]) -> None:
        async with translated("report records"):
            await self.client.hset(self.keys.report_sends(month), sig, orjson.dumps(record))

    async def queue(self, month: str, sig: str, record: dict[str, Any] | None = None) -> None:
        """Put a report in the to-do set, with its new send record if given (one MULTI)."""
        async with translated("report records"), self.client.pipeline(transaction=True) as pipe:
            if record is not None:
                pipe.hset(self.keys.report_sends(month), sig, orjson.dumps(record))
            pipe.sadd(self.keys.reports_todo, f"{month}/{sig}")
            await pipe.execute()

    async def todo(self) -> list[tuple[str, str]]:
        """The queued reports, (month, signatory), in order."""
        async with translated("report records"):
            raw = await self.client.smembers(self.keys.reports_todo)
        return [(month, sig) for month, _, sig in sorted(as_text(r).partition("/") for r in raw)]

    async def done(self, month: str, sig: str) -> None:
        """Take a report off the to-do set (it is in the outbox, or has nothing to send)."""
        async with translated("report records"):
            await self.client.srem(self.keys.reports_todo, f"{month}/{sig}")

    async def month_queued(self, month: str) -> bool:
        """Whether the scheduled send has queued ``month`` already."""
        async with translated("report records"):
            return bool(await self.client.exists(self.keys.lock(f"reports_auto:{month}")))

    async def mark_month_queued(self, month: str, at: str, ttl_s: int) -> None:
        async with translated("report records"):
            await self.client.set(self.keys.lock(f"reports_auto:{month}"), at, ex=ttl_s)
