"""RedisDecisions: the hot path's side of the ledger (decide, reserve, commit, release).

Every call is bounded by the pool's Redis timeout; a timeout or a connection failure becomes
``LedgerUnavailable`` so the decision layer applies the metric's fail mode. Callers hand typed
values and get typed answers; the scripts' layouts are packed in ``wire``.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis import exceptions as rex
from redis.commands.core import AsyncScript

from meter.core.errors import IdConflict, LedgerUnavailable, NotFound, ReservationExceeded, ReservationExpired
from meter.ledger import scripts
from meter.ledger.client import as_text, translated, unavailable
from meter.ledger.keys import Keys
from meter.ledger.lean import LeanScripts
from meter.ledger.redis_ledger import shared_script_error
from meter.ledger.replication import Replication
from meter.ledger.wire import (
    DecisionArgs,
    Settled,
    Verdict,
    pack_decisions,
    unpack_settled,
    unpack_verdicts,
)


class RedisDecisions:
    def __init__(self, client: redis.Redis, keys: Keys, idempotency_s: int, timeout_s: float,
                 replication: Replication | None = None, lean: LeanScripts | None = None) -> None:
        self.client = client
        self.lean = lean  # decide.lua's own connection (lean.py); None: through redis-py
        self.keys = keys
        self.idempotency_s = idempotency_s
        self.timeout_s = timeout_s
        self.replication = replication or Replication(client)
        self._decide = client.register_script(scripts.source("decide"))
        self._reservation = client.register_script(scripts.source("reservation"))

    async def decide(self, asks: Sequence[DecisionArgs], now_ms: int) -> list[Verdict]:
        """All ``asks`` in one decide.lua call, atomically; one verdict per ask, in order. What
        the batch consumes goes to the stream as usage facts (the writer builds the rows)."""
        metrics, decisions = pack_decisions(asks)
        writes = any(a.consume or a.reserve_id for a in asks)  # what a failover must not lose
        return unpack_verdicts(await self._decide_packed(metrics, decisions, now_ms, writes))

    async def release_expired_reservations(self, now_ms: int) -> None:
        """Release the reservations past their expiry: decide.lua does so before a batch when its
        metrics hold some, so a batch of no decisions releases them all (when no traffic does)."""
        await self._decide_packed(b"[]", b"[]", now_ms, False)

    async def _decide_packed(self, metrics: bytes, decisions: bytes, now_ms: int, writes: bool) -> list[Any]:
        argv = [self.keys.prefix, now_ms, self.idempotency_s, metrics, decisions]
        return await self._call(self._decide, argv, "decide", writes)

    async def reserved(self, rid: str) -> tuple[str, str] | None:
        """The metric and signatory a reservation holds (None: unknown, settled or expired)."""
        async with translated("reservation lookup"):
            metric, sig = await self.client.hmget(self.keys.reservation(rid), ["metric", "sig"])
        return None if metric is None else (as_text(metric), as_text(sig or b""))

    async def was_expired(self, rid: str) -> bool:
        """Whether a script released this reservation as expired (remembered a day)."""
        async with translated("reservation lookup"):
            return bool(await self.client.exists(self.keys.reservation_expired(rid)))

    async def settle(self, op: str, rid: str, amount: int, counter: str, ttl: int, now_ms: int) -> Settled:
        """Commit or release a reservation; returns what it was. A commit to a flow's ``counter``
        goes to the stream as a usage fact (the writer builds the row)."""
        argv = [self.keys.prefix, op, rid, amount, counter, ttl, now_ms]
        try:
            return unpack_settled(await self._call(self._reservation, argv, op, True))
        except rex.ResponseError as exc:
            if "NOT_FOUND" in str(exc):
                raise NotFound(f"no reservation {rid!r} (unknown, settled, or expired)") from None
            if "EXPIRED" in str(exc):
                raise ReservationExpired(rid) from None
            if "TOO_MUCH" in str(exc):  # the reservation's amount is stored state: a conflict (DESIGN §4)
                raise ReservationExceeded("the committed amount is larger than the reservation; nothing was committed",
                                          [{"field": "amount", "reason": "must not exceed the reserved amount"}]) \
                    from None
            raise

    async def _call(self, script: AsyncScript, argv: list[Any], what: str, writes: bool) -> list[Any]:
        keys = [self.keys.stream, self.keys.backlog]
        # waiting for replicas: the script's answer, then WAIT's, each within the Redis timeout, plus the wait
        timeout_s = self.timeout_s
        if writes and self.replication.waits:
            timeout_s = self.timeout_s * 2 + self.replication.extra_s
        try:
            if self.lean is not None and script is self._decide:
                reply: list[Any] = await self.replication.run_lean(self.lean, script, keys, argv, wait=writes,
                                                                   timeout_s=timeout_s)
            else:
                async with asyncio.timeout(timeout_s):  # not wait_for: no task of its own per call
                    reply = await self.replication.run(script, keys, argv, wait=writes)
            return reply
        except TimeoutError:
            raise LedgerUnavailable(f"Redis did not answer within {timeout_s * 1000:.0f} ms") from None
        except rex.ResponseError as exc:
            if shared := shared_script_error(exc, what):
                raise shared from None
            if "ID_CONFLICT" in str(exc):
                index = int(str(exc).rsplit(" ", 1)[1]) - 1
                raise IdConflict("an id names one request: this one was already used for a different "
                                 "request; nothing was decided",
                                 [{"index": index, "field": "id",
                                   "reason": "already used for a different request"}]) from None
            if (mapped := unavailable(exc, what)) is not None:
                raise mapped from exc
            raise
        except Exception as exc:  # a driver failure: 503 (what translated() does, without its cost per call)
            if (mapped := unavailable(exc, what)) is not None:
                raise mapped from exc
            raise
