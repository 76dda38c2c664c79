"""Links to the partners' pages (DESIGN §11): minted by an admin or with a monthly report, the
link is the key. A key is 32 random bytes (URL-safe base64, 43 characters); only its SHA-256 is
stored, with the link's expiry as its TTL.

A key resolves to its link while the link lives and, for a partner's link, while the partner has
not left. An expired link answers 410 for ``GONE_DAYS`` after its expiry (then it is forgotten:
404), a revoked or never-issued one 404, a departed partner's 410.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from meter.core.clock import Clock
from meter.core.errors import Conflict, Gone, NotFound
from meter.ledger.redis_portal import RedisPortalLinks
from meter.registry.service import Registry, active_on

KEY_BYTES = 32
DEFAULT_TTL_DAYS = 35
MAX_TTL_DAYS = 400
GONE_DAYS = 90
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{43,128}")
LinkScope = Literal["signatory", "pool"]


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    id: str
    scope: LinkScope
    signatory: str | None
    created_at: datetime
    expires_at: datetime
    digest: str

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "scope": self.scope, "signatory": self.signatory, "digest": self.digest,
                "created_ms": _ms(self.created_at), "expires_ms": _ms(self.expires_at)}

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> Link:
        return cls(raw["id"], raw["scope"], raw.get("signatory"), _at(raw["created_ms"]), _at(raw["expires_ms"]),
                   raw["digest"])


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def base_url(public_url: str, host: str, port: int) -> str:
    """The links' base: METER_PUBLIC_URL, else the service's own address."""
    if public_url:
        return public_url.rstrip("/")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class PortalLinks:
    def __init__(self, links: RedisPortalLinks, registry: Registry, clock: Clock, tz: ZoneInfo, base: str) -> None:
        self.links, self.registry, self.clock, self.tz, self.base = links, registry, clock, tz, base

    def url(self, key: str) -> str:
        return f"{self.base}/portal/{key}"

    def iso(self, at: datetime) -> str:
        return at.astimezone(self.tz).isoformat()

    async def mint(self, scope: LinkScope, signatory: str | None, ttl_days: int | None = None,
                   until: datetime | None = None) -> tuple[Link, str]:
        """A new link for a partner (``signatory``) or the pool, valid ``ttl_days`` (or ``until``);
        (the link, its URL). The URL is given once: only the key's hash is kept."""
        if scope == "signatory":
            if signatory is None:
                raise NotFound("a partner's link names its signatory")
            record = await self.registry.get_or_none(signatory)
            if record is None:
                raise NotFound(f"no signatory {signatory!r}")
            if _has_left(record, self.registry):
                raise Conflict(f"signatory {signatory!r} has left ({record['left_at']}): its page is closed")
        now = self.clock.now()
        expires = until if until is not None else now + timedelta(days=ttl_days or DEFAULT_TTL_DAYS)
        key = secrets.token_urlsafe(KEY_BYTES)
        link = Link(secrets.token_hex(8), scope, signatory if scope == "signatory" else None, now, expires,
                    digest(key))
        ttl_ms = _ms(expires) - _ms(now)
        await self.links.add(link.id, link.digest, link.record(), ttl_ms, ttl_ms + GONE_DAYS * 86_400_000)
        return link, self.url(key)

    async def resolve(self, key: str) -> Link:
        """The link a key opens; NotFound (unknown, revoked), Gone (expired, or its partner left)."""
        if not KEY_PATTERN.fullmatch(key):
            raise NotFound("no such link")
        live, expired_ms = await self.links.by_digest(digest(key))
        now = self.clock.now()
        if live is None:
            if expired_ms is not None:
                raise Gone("this link has expired")
            raise NotFound("no such link")
        link = Link.from_record(live)
        if link.expires_at <= now:
            raise Gone("this link has expired")
        if link.scope == "signatory" and link.signatory is not None:
            record = await self.registry.get_or_none(link.signatory)
            if record is None:
                raise NotFound("no such link")
            if _has_left(record, self.registry):
                raise Gone("this partner has left the pool")
        return link

    async def list(self, signatory: str | None = None, scope: LinkScope | None = None) -> list[Link]:
        """The links still valid (never their key), newest first; forgets those long expired."""
        now = self.clock.now()
        found, forgotten = [], []
        for raw in await self.links.all():
            link = Link.from_record(raw)
            if link.expires_at + timedelta(days=GONE_DAYS) <= now:
                forgotten.append(link.id)
            elif link.expires_at > now and (signatory is None or link.signatory == signatory) \
                    and (scope is None or link.scope == scope):
                found.append(link)
        await self.links.forget(forgotten)
        return sorted(found, key=lambda link: (link.created_at, link.id), reverse=True)

    async def revoke(self, link_id: str) -> None:
        raw = await self.links.get(link_id)
        if raw is None or not await self.links.remove(link_id, raw["digest"]):
            raise NotFound(f"no portal link {link_id!r}")


def _has_left(record: dict[str, Any], registry: Registry) -> bool:
    today = registry.today()
    left = record.get("left_at")
    return left is not None and not active_on(record, today) and str(left) <= today.isoformat()
