"""AlertStore: the alerts fired, in Redis (``meter/alerts/service.py`` decides what fires).

One hash per month, ``keys.alerts(month)`` (its days' alerts included): the alert's key (type,
scope, signatory, metric, period, threshold) -> the alert (JSON). An alert is recorded with
HSETNX before it is delivered, so each key fires once, across restarts and processes.
"""
from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as redis

from meter.ledger.client import translated
from meter.ledger.keys import Keys


class AlertStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def record(self, month: str, key: str, alert: dict[str, Any]) -> bool:
        """Record a fired alert; False when ``key`` fired before (nothing written)."""
        async with translated("alerts"):
            return bool(await self.client.hsetnx(self.keys.alerts(month), key, orjson.dumps(alert)))

    async def of_month(self, month: str) -> list[dict[str, Any]]:
        """Every alert fired in ``month`` (``YYYY-MM``), in no particular order."""
        async with translated("alerts"):
            raw = await self.client.hvals(self.keys.alerts(month))
        return [orjson.loads(v) for v in raw]
