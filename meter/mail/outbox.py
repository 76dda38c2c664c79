"""Outbox: every message (mail or webhook) is recorded in Redis before it is sent, then retried
with backoff until it is delivered, across restarts and processes.

The storage is ``meter/ledger/outbox.py``: an entry per message, and the undelivered ones by the
time of their next attempt, so a restarted process picks up exactly what was not sent. The
entry's id is the message's own id (a deterministic Message-ID or webhook id), so recording the
same message twice keeps one entry.

Sent once (as far as SMTP allows, DESIGN §8):
- each entry is claimed before it is sent: one step moves its next attempt past the attempt's
  bound (``METER_MAIL_ATTEMPT_S``), so no other run finds it due while it is being sent, and after
  a crash mid-attempt it comes due again once that bound has passed;
- an attempt is bounded by ``METER_MAIL_ATTEMPT_S`` (the SMTP client waits 60 s for each reply);
- one delivery runs at a time in the pool: a lock (``METER_MAIL_LOCK_S``) renewed while it runs,
  however long an attempt takes; and one at a time in a process (a second run returns at once);
- a delivery that takes the lock first makes due again what a delivery that stopped (a crash: its
  lock expired) had claimed, so a crash mid-attempt delays that message by the lock's life only.

Delivery runs in a scheduled job and in tasks started after a send request, never on the paths of
ingestion or decisions.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from meter.core.clock import Clock
from meter.ledger.locks import Held, Locks
from meter.ledger.outbox import OutboxStore
from meter.mail.smtp import DeliveryError

log = logging.getLogger("meter.mail")
BACKOFF_S = (30, 60, 120, 300, 900, 1800, 3600)  # then hourly, for as long as it takes
BATCH = 50
CLAIM_MARGIN_S = 60  # a claim outlives its attempt's bound by this much (clocks of several processes)
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
    def __init__(self, store: OutboxStore, locks: Locks, clock: Clock, transports: dict[str, Transport],
                 on_failure: Callable[[str], None] | None = None,
                 on_sent: Callable[[dict[str, Any]], None] | None = None,
                 lock_s: float = 30, attempt_s: float = 900) -> None:
        self.store = store
        self.locks = locks
        self.clock = clock
        self.transports = transports
        self.on_failure = on_failure
        self.on_sent = on_sent
        self.lock_s = lock_s
        self.attempt_s = attempt_s
        self._delivering = asyncio.Lock()  # one delivery at a time in this process

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def put(self, entry: Entry) -> bool:
        """Record ``entry`` for delivery; False if an entry of that id is already there."""
        return await self.store.put(entry.id, entry.kind, entry.payload, entry.meta, self._now_ms())

    async def status(self, entry_id: str) -> dict[str, Any] | None:
        """{"status", "attempts", "error", "sent_at"} of an entry, or None if there is none."""
        return await self.store.status(entry_id)

    async def deliver_due(self) -> int:
        """Attempt every entry whose time has come, under the outbox lock; returns how many were sent."""
        if self._delivering.locked():
            return 0  # this process is delivering already: that run sends what is due
        async with self._delivering, self.locks.hold("outbox", self.lock_s, renew=True) as held:
            if not held.acquired:
                return 0  # another process is delivering
            return await self._deliver(held)

    async def _deliver(self, held: Held) -> int:
        recovered = await self.store.recover(held.token, self._now_ms())
        if recovered:
            log.warning("entries claimed by a delivery that stopped are due again", extra={"entries": recovered})
        sent = 0
        while not held.lost and (ids := await self.store.due(self._now_ms(), BATCH)):
            for entry_id in ids:
                if held.lost:  # the lock expired (Redis away): the claims still keep each entry once
                    break
                sent += await self._attempt(entry_id, held.token)
        return sent

    async def _attempt(self, entry_id: str, token: str) -> int:
        now = self._now_ms()
        claimed = await self.store.claim(entry_id, now, now + int((self.attempt_s + CLAIM_MARGIN_S) * 1000), token)
        if claimed is None:
            return 0  # sent, or taken by another run, since it was listed
        entry = {"id": entry_id, "kind": claimed.kind, "payload": claimed.payload, "meta": claimed.meta}
        try:
            transport = self.transports.get(claimed.kind)
            if transport is None:
                raise DeliveryError(f"no {claimed.kind} delivery is configured (METER_SMTP_URL, [alerts] webhook_url)")
            async with asyncio.timeout(self.attempt_s):
                await transport(entry)
        except DeliveryError as exc:
            await self._failed(entry_id, claimed.attempts + 1, exc.message, claimed.kind)
            return 0
        except TimeoutError:
            await self._failed(entry_id, claimed.attempts + 1,
                               f"no answer within {self.attempt_s:g} s (METER_MAIL_ATTEMPT_S)", claimed.kind)
            return 0
        await self.store.sent(entry_id, self._now_ms())
        if self.on_sent is not None:
            self.on_sent(claimed.meta)
        return 1

    async def _failed(self, entry_id: str, attempts: int, error: str, kind: str) -> None:
        log.warning("delivery failed, will retry", extra={"entry": entry_id, "kind": kind, "attempts": attempts,
                                                          "error": error})
        if self.on_failure is not None:
            self.on_failure(kind)
        await self.store.failed(entry_id, attempts, error, self._now_ms() + backoff_s(attempts) * 1000)

    async def retry_now(self, entry_id: str) -> None:
        """Make a failed entry due at once (an admin asked to send again); one being attempted stays so."""
        await self.store.retry_now(entry_id, self._now_ms())
