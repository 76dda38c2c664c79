"""Locks across processes: the one helper, on redis-py's ``Lock`` (a random token, atomic release).

redis-py's ``Lock`` sets its key with ``SET NX PX`` and a token of its own, and releases or extends
it with a script that checks the token first, so a holder whose lock expired never deletes the
next holder's. Three uses:

- ``hold(name, ttl_s)``: for the duration of a block, released at its end. With ``renew=True`` a
  task extends it every third of ``ttl_s`` while the block runs, so a long block (a slow mail
  server) keeps it, and a crashed holder lets go after at most ``ttl_s``. ``lost`` says whether
  the renewal failed (Redis away longer than the lock lives, or the key deleted).
- ``take(name, ttl_s)``: the scheduler's once-per-interval lock, never released (it expires), so
  a run shorter than the interval is not repeated by another process within it.

Every driver failure becomes ``LedgerUnavailable`` (``translated``).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import redis.asyncio as redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from meter.ledger.client import DRIVER_ERRORS, as_text, translated
from meter.ledger.keys import Keys

log = logging.getLogger("meter.ledger.locks")


class Held:
    """One lock, taken by ``async with`` (``acquired`` tells whether it was)."""

    def __init__(self, lock: Lock, ttl_s: float, wait_s: float, renew: bool) -> None:
        self._lock, self.ttl_s, self.wait_s, self.renew = lock, ttl_s, wait_s, renew
        self.acquired = False
        self.lost = False
        self.token = ""  # the lock's value while it is held (a uuid4 hex)
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Held:
        async with translated(f"lock {self._lock.name!r}"):
            self.acquired = await self._lock.acquire(blocking=self.wait_s > 0, blocking_timeout=self.wait_s or None)
        if self.acquired:
            self.token = as_text(self._lock.local.token)
        if self.acquired and self.renew:
            self._renewer = asyncio.create_task(self._renew(), name=f"renew {self._lock.name!r}")
        return self

    async def _renew(self) -> None:
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self._lock.reacquire()  # back to its full ttl, if it is still ours
                renewed = loop.time()
            except LockError:  # expired, or deleted: another may hold it now
                self.lost = True
            except DRIVER_ERRORS as exc:  # Redis away: lost once the lock may have expired
                log.warning("lock %r not renewed: %s", self._lock.name, exc.__class__.__name__)
                self.lost = loop.time() - renewed >= self.ttl_s
            if self.lost:
                log.warning("lock %r was lost while held", self._lock.name)
                return

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if not self.acquired:
            return
        try:
            await self._lock.release()  # atomic: deletes the key only while it holds our token
        except LockError:  # expired meanwhile (and maybe taken by another): nothing of ours to delete
            self.lost = True
        except DRIVER_ERRORS as exc:  # Redis away: the lock expires by itself
            log.warning("lock %r not released: %s", self._lock.name, exc.__class__.__name__)


class Locks:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def _lock(self, name: str, ttl_s: float) -> Lock:
        # thread_local off: the token belongs to this object, whichever task or thread uses it
        return self.client.lock(self.keys.lock(name), timeout=ttl_s, sleep=0.1, thread_local=False)

    def hold(self, name: str, ttl_s: float, *, wait_s: float = 0.0, renew: bool = False) -> Held:
        """``async with locks.hold(...) as held:`` then ``held.acquired``; released at the block's end."""
        return Held(self._lock(name, ttl_s), ttl_s, wait_s, renew)

    async def take(self, name: str, ttl_s: float) -> bool:
        """Take ``name`` for ``ttl_s`` and let it expire (never released); False: another holds it."""
        return bool(await self._lock(name, ttl_s).acquire(blocking=False))
