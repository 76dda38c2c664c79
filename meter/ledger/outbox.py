"""OutboxStore: the outbox's storage in Redis (``meter/mail/outbox.py`` decides what to send).

An entry is a hash (``Keys.outbox_entry``): ``kind``, ``payload`` (deleted once delivered),
``meta`` (JSON), ``status`` (``pending``, ``failed``, ``sent``), ``attempts``, ``error``,
``created`` and ``sent_at`` (ms). Undelivered entries sit in a sorted set (``Keys.outbox_due``) by
the time of their next attempt. The entries an attempt holds are in ``Keys.outbox_claims`` (entry
id -> the token of the outbox lock of the delivery that claimed it). Three scripts:

- ``claim`` (``lua/outbox_claim.lua``): take one due entry for one attempt, moving its next attempt
  past the attempt's bound, in one step, before it is sent;
- ``recover`` (``lua/outbox_recover.lua``): a delivery that has just taken the lock makes the
  entries claimed under another token (a delivery that died) due now;
- ``retry_now`` (``lua/outbox_retry.lua``): due now, unless an attempt holds it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis.asyncio as redis

from meter.ledger import scripts
from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys


@dataclass(frozen=True)
class Claimed:
    """An entry claimed for one attempt."""

    id: str
    kind: str
    payload: bytes
    meta: dict[str, Any]
    attempts: int  # before this one


class OutboxStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._claim = client.register_script(scripts.source("outbox_claim"))
        self._recover = client.register_script(scripts.source("outbox_recover"))
        self._retry = client.register_script(scripts.source("outbox_retry"))

    async def put(self, entry_id: str, kind: str, payload: bytes, meta: dict[str, Any], now_ms: int) -> bool:
        """Record an entry, due now; False (and nothing written) if one of that id is already there."""
        key = self.keys.outbox_entry(entry_id)
        async with translated("outbox"):
            if not await self.client.hsetnx(key, "status", "pending"):
                return False
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"kind": kind, "payload": payload, "meta": orjson.dumps(meta),
                                        "status": "pending", "attempts": 0, "error": "", "created": now_ms})
                pipe.zadd(self.keys.outbox_due, {entry_id: now_ms})
                await pipe.execute()
        return True

    async def status(self, entry_id: str) -> dict[str, Any] | None:
        """{"status", "attempts", "error", "sent_at"} of an entry, or None if there is none."""
        async with translated("outbox"):
            raw = await self.client.hmget(self.keys.outbox_entry(entry_id), ["status", "attempts", "error", "sent_at"])
        if raw[0] is None:
            return None
        status, attempts, error, sent_at = (as_text(v) if v is not None else None for v in raw)
        return {"status": status, "attempts": int(attempts or 0), "error": error or None,
                "sent_at": int(sent_at) if sent_at else None}

    async def due(self, now_ms: int, count: int) -> list[str]:
        """Up to ``count`` ids of entries whose next attempt has come, earliest first."""
        async with translated("outbox"):
            ids = await self.client.zrangebyscore(self.keys.outbox_due, 0, now_ms, start=0, num=count)
        return [as_text(i) for i in cast(list[bytes], ids)]  # no scores asked: the ids alone

    async def recover(self, token: str, now_ms: int) -> int:
        """Make due now the entries claimed under a lock token other than ``token``; how many."""
        async with translated("outbox recover"):
            return int(await self._recover(keys=[self.keys.outbox_due, self.keys.outbox_claims], args=[token, now_ms]))

    async def claim(self, entry_id: str, now_ms: int, until_ms: int, token: str) -> Claimed | None:
        """Take a due entry for one attempt (its next attempt moved to ``until_ms``); None: not to send."""
        keys = [self.keys.outbox_due, self.keys.outbox_entry(entry_id), self.keys.outbox_claims]
        async with translated("outbox claim"):
            reply = await self._claim(keys=keys, args=[entry_id, now_ms, until_ms, token])
        if not reply:
            return None
        kind, payload, meta, attempts = reply
        return Claimed(entry_id, as_text(kind), payload, orjson.loads(meta), int(attempts))

    async def sent(self, entry_id: str, now_ms: int) -> None:
        key = self.keys.outbox_entry(entry_id)
        async with translated("outbox"), self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": "sent", "error": "", "sent_at": now_ms})
            pipe.hincrby(key, "attempts", 1)
            pipe.hdel(key, "payload")  # delivered: the body is no longer needed
            pipe.zrem(self.keys.outbox_due, entry_id)
            pipe.hdel(self.keys.outbox_claims, entry_id)
            await pipe.execute()

    async def failed(self, entry_id: str, attempts: int, error: str, next_ms: int) -> None:
        async with translated("outbox"), self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.outbox_entry(entry_id), mapping={"status": "failed", "attempts": attempts,
                                                                 "error": error[:500]})
            pipe.zadd(self.keys.outbox_due, {entry_id: next_ms})
            pipe.hdel(self.keys.outbox_claims, entry_id)
            await pipe.execute()

    async def retry_now(self, entry_id: str, now_ms: int) -> bool:
        """Make an undelivered entry due at once, unless an attempt holds it (True: made due)."""
        keys = [self.keys.outbox_due, self.keys.outbox_claims]
        async with translated("outbox retry"):
            return bool(await self._retry(keys=keys, args=[entry_id, now_ms]))
