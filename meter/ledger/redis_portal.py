"""RedisPortalLinks: where the partners' page links live (DESIGN §11), by the hash of their key.

Three keys per pool: each live link under its key's SHA-256 with the link's expiry as TTL; beside
it a small marker holding that expiry, kept ``gone`` longer, so that an expired link answers 410
(and only a never-issued or revoked one 404); and one hash of every link by id, for listing and
revoking. The key itself is never stored.
"""
from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as redis

from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys


class RedisPortalLinks:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def add(self, link_id: str, digest: str, record: dict[str, Any], ttl_ms: int, gone_ttl_ms: int) -> None:
        """Store a new link: live for ``ttl_ms``, known as expired for ``gone_ttl_ms``."""
        body = orjson.dumps(record)
        async with translated("portal link"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self.keys.portal_link(digest), body, px=max(1, ttl_ms))
                pipe.set(self.keys.portal_gone(digest), str(record["expires_ms"]), px=max(1, gone_ttl_ms))
                pipe.hset(self.keys.portal_links, link_id, body)
                await pipe.execute()

    async def by_digest(self, digest: str) -> tuple[dict[str, Any] | None, int | None]:
        """(the live link or None, the expiry in ms of a link that had this digest, or None)."""
        async with translated("portal link"):
            live, gone = await self.client.mget([self.keys.portal_link(digest), self.keys.portal_gone(digest)])
        return (orjson.loads(live) if live is not None else None), (int(as_text(gone)) if gone is not None else None)

    async def get(self, link_id: str) -> dict[str, Any] | None:
        async with translated("portal link"):
            raw = await self.client.hget(self.keys.portal_links, link_id)
        return orjson.loads(raw) if raw is not None else None

    async def all(self) -> list[dict[str, Any]]:
        async with translated("portal links"):
            raw = await self.client.hvals(self.keys.portal_links)
        return [orjson.loads(r) for r in raw]

    async def remove(self, link_id: str, digest: str) -> bool:
        """Revoke: the link and its marker go (its key is then unknown: 404); False if no such id."""
        async with translated("portal link"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hdel(self.keys.portal_links, link_id)
                pipe.delete(self.keys.portal_link(digest), self.keys.portal_gone(digest))
                removed, _ = await pipe.execute()
        return bool(removed)

    async def forget(self, link_ids: list[str]) -> None:
        """Drop from the listing links whose marker has expired too (nothing else is left of them)."""
        if link_ids:
            async with translated("portal links"):
                await self.client.hdel(self.keys.portal_links, *link_ids)
