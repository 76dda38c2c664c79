"""The Redis connection, its start-up checks and driver-error translation."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import redis.asyncio as redis
from redis import exceptions as rex
from redis.asyncio.cluster import RedisCluster

from meter.core.errors import ConfigError, LedgerUnavailable

log = logging.getLogger("meter.redis")
DRIVER_ERRORS = (rex.ConnectionError, rex.TimeoutError, OSError)  # BusyLoadingError is a ConnectionError
REDIS_AWAY = (rex.ConnectionError, rex.TimeoutError)  # what a read that met no Redis raises
REFUSED_WRITES = (rex.OutOfMemoryError, rex.ReadOnlyError)  # redis-py strips their OOM / READONLY prefix
# A cluster between a master's failure and its replica's promotion: slots uncovered, redirections
# that keep moving, no node answering for a slot. Each lasts seconds: retry.
CLUSTER_ERRORS = (rex.ClusterDownError, rex.TryAgainError, rex.ClusterError, rex.RedisClusterException,
                  rex.AskError)


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (the client answers bytes; a script's numbers come as they are)."""
    return value.decode() if isinstance(value, bytes) else value


def connect(url: str, timeout_s: float = 2.0, cluster: bool = False) -> redis.Redis:
    """The client; with ``cluster``, redis-py's cluster client, ``url`` naming any one node.

    The cluster client answers every command the service sends the way the plain one does (each
    script and transaction keeps to one pool's slot: ``tests/test_cluster_keyslots.py``), so the
    adapters take either under one type.
    """
    if cluster:
        return cast(redis.Redis, RedisCluster.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30,
            max_connections=256, protocol=2,
        ))
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30,
        max_connections=256, protocol=2,
    )


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster)


async def check_no_eviction(client: redis.Redis) -> None:
    """Refuse a Redis that may evict keys: it would silently drop counters and dedup markers."""
    try:
        if is_cluster(client):  # every node: any of them may become the master of a pool's slot
            replies = await cast(RedisCluster, client).config_get("maxmemory-policy",
                                                                   target_nodes=RedisCluster.ALL_NODES)
            found = [as_text(r.get("maxmemory-policy", b"noeviction")) for r in _per_node(replies)]
        else:
            found = [as_text((await client.config_get("maxmemory-policy")).get("maxmemory-policy") or "noeviction")]
    except rex.ResponseError as exc:  # a managed Redis may refuse CONFIG: say what to make sure of
        log.warning("cannot read Redis's maxmemory-policy (%s); make sure it is noeviction", exc)
        return
    for policy in found:
        if policy != "noeviction":
            raise ConfigError(
                f"Redis maxmemory-policy is {policy!r}; meter needs 'noeviction' "
                "(CONFIG SET maxmemory-policy noeviction) so that no counter is ever evicted"
            )


def _per_node(replies: object) -> list[dict[Any, Any]]:
    """The cluster client's CONFIG GET answers, one dict per node (or one merged dict)."""
    if isinstance(replies, dict) and replies and all(isinstance(v, dict) for v in replies.values()):
        return list(replies.values())
    return [replies] if isinstance(replies, dict) else []


def unavailable(exc: BaseException, what: str) -> LedgerUnavailable | None:
    """The ``LedgerUnavailable`` (503) a driver failure means, naming what was attempted; None for
    anything else (a script's own refusal, a bug), which the caller raises as it is."""
    if isinstance(exc, DRIVER_ERRORS):
        return LedgerUnavailable(f"Redis is unavailable ({what}): {exc.__class__.__name__}", retry_after_s=2)
    if isinstance(exc, CLUSTER_ERRORS):  # a failover under way
        return LedgerUnavailable(f"the Redis cluster is failing over ({what}): {exc.__class__.__name__}",
                                 retry_after_s=1)
    if isinstance(exc, REFUSED_WRITES):  # full (noeviction at maxmemory), a replica
        return LedgerUnavailable(f"Redis refused to write ({what}): {exc}", retry_after_s=30)
    if isinstance(exc, rex.ResponseError) and str(exc).startswith(("OOM", "MISCONF", "READONLY")):
        # the same, as a plain error; a failing disk
        return LedgerUnavailable(f"Redis refused to write ({what}): {exc}", retry_after_s=30)
    return None


@contextlib.asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """Turn a driver failure into ``LedgerUnavailable`` (503) naming what was attempted."""
    try:
        yield
    except Exception as exc:
        if (mapped := unavailable(exc, what)) is not None:
            raise mapped from exc
        raise
