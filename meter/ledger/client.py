"""The Redis connection, its start-up checks and driver-error translation."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio as redis
from redis import exceptions as rex

from meter.core.errors import ConfigError, LedgerUnavailable

log = logging.getLogger("meter.redis")
DRIVER_ERRORS = (rex.ConnectionError, rex.TimeoutError, OSError)  # BusyLoadingError is a ConnectionError
REDIS_AWAY = (rex.ConnectionError, rex.TimeoutError)  # what a read that met no Redis raises
REFUSED_WRITES = (rex.OutOfMemoryError, rex.ReadOnlyError)  # redis-py strips their OOM / READONLY prefix


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (the client answers bytes; a script's numbers come as they are)."""
    return value.decode() if isinstance(value, bytes) else value


def connect(url: str, timeout_s: float = 2.0) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30,
        max_connections=256, protocol=2,
    )


async def check_no_eviction(client: redis.Redis) -> None:
    """Refuse a Redis that may evict keys: it would silently drop counters and dedup markers."""
    try:
        policy = (await client.config_get("maxmemory-policy")).get("maxmemory-policy", "noeviction")
    except rex.ResponseError as exc:  # a managed Redis may refuse CONFIG: say what to make sure of
        log.warning("cannot read Redis's maxmemory-policy (%s); make sure it is noeviction", exc)
        return
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy != "noeviction":
        raise ConfigError(
            f"Redis maxmemory-policy is {policy!r}; meter needs 'noeviction' "
            "(CONFIG SET maxmemory-policy noeviction) so that no counter is ever evicted"
        )


@contextlib.asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """Turn a driver failure into ``LedgerUnavailable`` (503) naming what was attempted."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise LedgerUnavailable(f"Redis is unavailable ({what}): {exc.__class__.__name__}", retry_after_s=2) from exc
    except REFUSED_WRITES as exc:  # full (noeviction at maxmemory), a replica
        raise LedgerUnavailable(f"Redis refused to write ({what}): {exc}", retry_after_s=30) from exc
    except rex.ResponseError as exc:
        if str(exc).startswith(("OOM", "MISCONF", "READONLY")):  # the same, as a plain error; a failing disk
            raise LedgerUnavailable(f"Redis refused to write ({what}): {exc}", retry_after_s=30) from exc
        raise
