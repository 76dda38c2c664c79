"""RedisOwners: what attribution reads from the registry in Redis (host and dataset owners, names).

The host-then-dataset rule itself is ``lua/owner.lua``, the same code the gateway hook's
decide.lua runs, so an event and a request on the same host can never be attributed apart.
"""
from __future__ import annotations

from collections.abc import Sequence

import orjson
import redis.asyncio as redis

from meter.ledger import scripts
from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys


class RedisOwners:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._attribute = client.register_script(scripts.source("attribute"))

    async def owners(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        """The signatory (or 'unattributed') of each (host, dataset) pair, in one round trip."""
        if not pairs:
            return []
        args = [self.keys.prefix, *(part for pair in pairs for part in pair)]
        async with translated("attribution"):
            reply = await self._attribute(keys=[self.keys.hosts], args=args)  # the key routes it to the pool's slot
        return [as_text(sig) for sig in reply]

    async def ids_by_name(self) -> dict[str, str]:
        """Every signatory's exact name -> its id; of two with one name, the smaller id."""
        async with translated("signatory names"):
            records = await self.client.hvals(self.keys.signatories)
        found: dict[str, str] = {}
        for record in sorted((orjson.loads(r) for r in records), key=lambda r: r["id"], reverse=True):
            found[record["name"]] = record["id"]
        return found
