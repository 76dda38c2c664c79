"""Outbox: every message (mail or webhook) is recorded in Redis before it is sent, then retried
with backoff until it is delivered, across restarts and processes.

An entry is a hash (``Keys.outbox_entry``): its kind, what to send, its status (``pending``,
``failed`` after a failed attempt, ``sent``), attempts, the last error and the times. Undelivered
entries sit in a sorted set by the time of their next attempt, so a restarted process picks up
exactly what was not sent. The entry's id is the message's own id (a deterministic Message-ID or
webhook id), so recording the same message twice keeps one entry.

Delivery runs in a scheduled job and in tasks started after a send request, never on the paths
of ingestion or decisions; a lock makes one process deliver at a time.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as redis

from meter.core.clock import Clock
from meter.ledger.client import as_text
from meter.ledger.keys import Keys
from meter.mail.smtp import DeliveryError

log = logging.getLogger("meter.mail")
BACKOFF_S = (30, 60, 120, 300, 900, 1800, 3600)  # then hourly, for as long as it takes
BATCH = 50
# Short, and renewed after each attempt: after a crash the next process waits at most this long.
# An attempt longer than it (a mail server slow to answer) may let another process send the same
# entry too: it then arrives twice with one Message-ID, which is as much as SMTP allows anyway.
LOCK_MS = 10_000
Transport = Callable[[dict[str, Any]], Awaitable[None]]  # raises DeliveryError when delivery failed


@dataclass(frozen=True)
class Entry:
    id: str
    kind: str  # "mail" or "webhook"
    payload: bytes  # the raw message, or the webhook's body
    meta: dict[str, Any]  # mail: sender, recipients; webhook: url, headers


def backoff_s(attempts: int) -> int:
    return BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1] if attempts > 0 else 0


class Outbox:
    def __init__(self, client: redis.Redis, keys: Keys, clock: Clock, transports: dict[str, Transport],
                 on_failure: Callable[[str], None] | None = None,
                 on_sent: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self.transports = transports
        self.on_failure = on_failure
        self.on_sent = on_sent

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def put(self, entry: Entry) -> bool:
        """Record ``entry`` for delivery; False if an entry of that id is already there."""
        key = self.keys.outbox_entry(entry.id)
        fields: dict[str, Any] = {"kind": entry.kind, "payload": entry.payload, "meta": orjson.dumps(entry.meta),
                  "status": "pending", "attempts": 0, "error": "", "created": self._now_ms()}
        if not await self.client.hsetnx(key, "status", "pending"):
            return False
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.zadd(self.keys.outbox_due, {entry.id: self._now_ms()})
            await pipe.execute()
        return True

    async def status(self, entry_id: str) -> dict[str, Any] | None:
        """{"status", "attempts", "error", "sent_at"} of an entry, or None if there is none."""
        raw = await self.client.hmget(self.keys.outbox_entry(entry_id), ["status", "attempts", "error", "sent_at"])
        if raw[0] is None:
            return None
        status, attempts, error, sent_at = (v.decode() if isinstance(v, bytes) else v for v in raw)
        return {"status": status, "attempts": int(attempts or 0), "error": error or None,
                "sent_at": int(sent_at) if sent_at else None}

    async def deliver_due(self) -> int:
        """Attempt every entry whose time has come, under the outbox lock; returns how many were sent."""
        lock, token = self.keys.lock("outbox"), uuid.uuid4().hex
        if not await self.client.set(lock, token, nx=True, px=LOCK_MS):
            return 0  # another process (or task) is delivering
        try:
            sent = 0
            while ids := await self.client.zrangebyscore(self.keys.outbox_due, 0, self._now_ms(), start=0, num=BATCH):
                for raw_id in ids:
                    sent += await self._attempt(as_text(raw_id))  # type: ignore[arg-type]
                    await self.client.pexpire(lock, LOCK_MS)
            return sent
        finally:
            if await self.client.get(lock) == token.encode():
                await self.client.delete(lock)

    async def _attempt(self, entry_id: str) -> int:
        key = self.keys.outbox_entry(entry_id)
        data = await self.client.hgetall(key)
        if not data or data.get(b"status") == b"sent":
            await self.client.zrem(self.keys.outbox_due, entry_id)
            return 0
        entry = {"id": entry_id, "kind": as_text(data[b"kind"]), "payload": data[b"payload"],
                 "meta": orjson.loads(data[b"meta"])}
        try:
            transport = self.transports.get(entry["kind"])
            if transport is None:
                raise DeliveryError(f"no {entry['kind']} delivery is configured (METER_SMTP_URL, [alerts] webhook_url)")
            await transport(entry)
        except DeliveryError as exc:
            await self._failed(entry_id, int(data.get(b"attempts", 0)) + 1, exc.message, entry["kind"])
            return 0
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": "sent", "error": "", "sent_at": self._now_ms()})
            pipe.hincrby(key, "attempts", 1)
            pipe.hdel(key, "payload")  # delivered: the body is no longer needed
            pipe.zrem(self.keys.outbox_due, entry_id)
            await pipe.execute()
        if self.on_sent is not None:
            self.on_sent(entry["meta"])
        return 1

    async def _failed(self, entry_id: str, attempts: int, error: str, kind: str) -> None:
        log.warning("delivery failed, will retry", extra={"entry": entry_id, "kind": kind, "attempts": attempts,
                                                          "error": error})
        if self.on_failure is not None:
            self.on_failure(kind)
        next_ms = self._now_ms() + backoff_s(attempts) * 1000
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.outbox_entry(entry_id), mapping={"status": "failed", "attempts": attempts,
                                                                 "error": error[:500]})
            pipe.zadd(self.keys.outbox_due, {entry_id: next_ms})
            await pipe.execute()

    async def retry_now(self, entry_id: str) -> None:
        """Make a failed entry due at once (an admin asked to send again)."""
        await self.client.zadd(self.keys.outbox_due, {entry_id: self._now_ms()}, xx=True)
