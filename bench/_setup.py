"""The service's real objects in this process, for the benchmarks that time what they build
(bench/portal.py, bench/reports.py); bench/_service.py starts the service in a subprocess instead.

Both benchmarks share one pool set-up (weighted by a registry column, reports not sent on their
own, so that the benchmark decides when) and one kind of partner, so their figures compare.
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from aiohttp import web

from meter.app import create_app
from meter.config.settings import Settings, parse_pool_config
from meter.core.clock import FixedClock
from meter.ledger.keys import Keys

# the columns of an INSERT ... SELECT that generates events inside chDB, as the writer would insert them
EVENTS_COLUMNS = ("pool, source, id, type, time, day, signatory, subject, dataset, object, kind, amount, raw_bytes, "
                  "check_id, received")


def pool_file(pool: str) -> str:
    return f"""[pool]
id = "{pool}"
name = "Portail (banc d'essai)"
[allocation]
policy = "weighted"
weight = "weight"
[reports]
admins = ["admins@pool.example"]
auto_send = false
"""


def partners(n: int) -> list[dict]:
    """``n`` communes, ``sig-000`` onwards, with weights 1 to 7 so the shares differ."""
    return [{"id": f"sig-{i:03d}", "name": f"Commune {i:03d}", "kind": "commune", "population": None,
             "hosts": [], "emails": [f"sig-{i:03d}@town.example"], "joined_at": "2020-01-01", "weight": 1 + i % 7}
            for i in range(n)]


@contextlib.asynccontextmanager
async def running_app(pool: str, clock: FixedClock, **settings: Any) -> AsyncIterator[web.Application]:
    """create_app on a data directory of its own, started but not serving (the benchmark calls its
    objects); afterwards the pool's keys are deleted, since the Redis is the machine's shared one."""
    config = parse_pool_config(pool_file(pool))
    with tempfile.TemporaryDirectory() as data:
        app_settings = Settings(data_dir=Path(data), scheduler=False, **settings)
        app = create_app(app_settings, config, clock=clock)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            yield app
        finally:
            await runner.cleanup()
            await _delete_keys(app_settings.redis_url, pool)


async def _delete_keys(redis_url: str, pool: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=Keys(pool).pattern, count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i:i + 500])
    await client.aclose()
