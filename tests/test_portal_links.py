"""Links to the partners' pages (DESIGN §11): minted by an admin, stored as hashes with their
expiry, listed without their key, revoked, and closed when a partner leaves."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from meter.http import appkeys
from tests.conftest import auth

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
SIG = "mairie-a"


async def _partner(client, sid: str = SIG, name: str = "Mairie A") -> None:
    resp = await client.put(f"/v1/signatories/{sid}", json={"name": name, "kind": "commune",
                                                             "joined_at": "2026-01-01"}, headers=auth("admin"))
    assert resp.status in (200, 201), await resp.text()


async def _mint(client, body: dict) -> dict:
    resp = await client.post("/v1/portal/links", json=body, headers=auth("admin"))
    assert resp.status == 201, await resp.text()
    return await resp.json()


def _key(url: str) -> str:
    path = urlsplit(url).path
    assert path.startswith("/portal/")
    return path.removeprefix("/portal/")


async def test_a_link_is_a_long_random_key_stored_only_as_its_hash_with_its_expiry(client, redis_client):
    await _partner(client)
    link = await _mint(client, {"signatory": SIG})
    assert link["scope"] == "signatory" and link["signatory"] == SIG
    assert link["url"].startswith("http://127.0.0.1:8080/portal/")  # METER_PUBLIC_URL unset: the own address
    key = _key(link["url"])
    assert len(key) >= 43  # 32 random bytes, URL-safe base64
    keys = client.app[appkeys.LEDGER].keys
    stored = [k async for k in redis_client.scan_iter(match=keys.prefix + "portal:*")]
    everything = b"".join([k for k in stored] + [await redis_client.dump(k) or b"" for k in stored])
    assert key.encode() not in everything, "the key itself must never be stored"
    digest = hashlib.sha256(key.encode()).hexdigest()
    ttl = await redis_client.pttl(keys.portal_link(digest))
    assert timedelta(days=35) - timedelta(minutes=1) < timedelta(milliseconds=ttl) <= timedelta(days=35)
    clock = client.app[appkeys.CLOCK]
    assert link["expires_at"].startswith((clock.now() + timedelta(days=35)).date().isoformat())


async def test_ttl_days_and_a_pool_link(client):
    link = await _mint(client, {"scope": "pool", "ttl_days": 3})
    assert link["scope"] == "pool" and link["signatory"] is None
    clock = client.app[appkeys.CLOCK]
    assert link["expires_at"].startswith((clock.now() + timedelta(days=3)).date().isoformat())


async def test_two_links_never_share_a_key(client):
    await _partner(client)
    a, b = await _mint(client, {"signatory": SIG}), await _mint(client, {"signatory": SIG})
    assert a["id"] != b["id"] and _key(a["url"]) != _key(b["url"])


async def test_listing_never_shows_a_key_and_filters_by_signatory(client):
    await _partner(client)
    await _partner(client, "mairie-b", "Mairie B")
    mine = await _mint(client, {"signatory": SIG})
    await _mint(client, {"signatory": "mairie-b"})
    await _mint(client, {"scope": "pool"})
    resp = await client.get("/v1/portal/links", params={"signatory": SIG}, headers=auth("admin"))
    assert resp.status == 200
    body = await resp.json()
    assert [link["id"] for link in body["links"]] == [mine["id"]]
    assert set(body["links"][0]) == {"id", "scope", "signatory", "created_at", "expires_at"}
    assert _key(mine["url"]) not in await resp.text()
    resp = await client.get("/v1/portal/links", headers=auth("admin"))
    assert len((await resp.json())["links"]) == 3


async def test_revoked_links_open_nothing_and_a_second_revocation_is_404(client):
    await _partner(client)
    link = await _mint(client, {"signatory": SIG})
    links = client.app[appkeys.PORTAL_LINKS]
    assert (await links.resolve(_key(link["url"]))).signatory == SIG
    resp = await client.delete(f"/v1/portal/links/{link['id']}", headers=auth("admin"))
    assert resp.status == 204
    resp = await client.delete(f"/v1/portal/links/{link['id']}", headers=auth("admin"))
    assert resp.status == 404 and (await resp.json())["error"]["type"] == "not_found"
    from meter.core.errors import NotFound
    with pytest.raises(NotFound):
        await links.resolve(_key(link["url"]))
    resp = await client.get("/v1/portal/links", headers=auth("admin"))
    assert (await resp.json())["links"] == []


async def test_an_expired_link_is_gone_not_unknown(client):
    from meter.core.errors import Gone, NotFound

    await _partner(client)
    link = await _mint(client, {"signatory": SIG, "ttl_days": 1})
    links, clock = client.app[appkeys.PORTAL_LINKS], client.app[appkeys.CLOCK]
    clock.set(clock.now() + timedelta(days=1, seconds=1))
    with pytest.raises(Gone):
        await links.resolve(_key(link["url"]))
    with pytest.raises(NotFound):
        await links.resolve("A" * 43)  # never issued
    resp = await client.get("/v1/portal/links", headers=auth("admin"))
    assert (await resp.json())["links"] == []  # expired: no longer listed


async def test_a_partners_links_stop_when_it_leaves(client):
    from meter.core.errors import Gone

    await _partner(client)
    link = await _mint(client, {"signatory": SIG})
    resp = await client.delete(f"/v1/signatories/{SIG}", headers=auth("admin"))
    assert resp.status == 200
    with pytest.raises(Gone):
        await client.app[appkeys.PORTAL_LINKS].resolve(_key(link["url"]))
    resp = await client.post("/v1/portal/links", json={"signatory": SIG}, headers=auth("admin"))
    assert resp.status == 409  # no new link for a partner that left


@pytest.mark.parametrize("body, field", [
    ({}, "signatory"), ({"scope": "pool", "signatory": SIG}, "signatory"), ({"scope": "signatory"}, "signatory"),
    ({"signatory": SIG, "ttl_days": 0}, "ttl_days"), ({"signatory": SIG, "ttl_days": 401}, "ttl_days"),
    ({"signatory": SIG, "extra": 1}, "extra"), ({"scope": "everyone"}, "scope"),
])
async def test_bad_requests_are_400_naming_the_field(client, body, field):
    resp = await client.post("/v1/portal/links", json=body, headers=auth("admin"))
    assert resp.status == 400, await resp.text()
    details = (await resp.json())["error"]["details"]
    assert any(d["field"].startswith(field) for d in details), details


async def test_unknown_signatory_is_404_and_only_admins_mint(client):
    resp = await client.post("/v1/portal/links", json={"signatory": "nobody"}, headers=auth("admin"))
    assert resp.status == 404
    resp = await client.get("/v1/portal/links", params={"signatory": "nobody"}, headers=auth("admin"))
    assert resp.status == 404
    resp = await client.post("/v1/portal/links", json={"scope": "pool"}, headers=auth("reader"))
    assert resp.status == 403
    resp = await client.get("/v1/portal/links", headers=auth("reader"))
    assert resp.status == 403


async def test_public_url_is_the_links_base(redis_client, store, aiohttp_client, settings, config, clock):
    from meter.app import create_app
    from meter.observability.telemetry import Telemetry

    app = create_app(settings.model_copy(update={"public_url": "https://meter.example.org/q"}), config,
                     clock=clock, telemetry=Telemetry(), store=store)
    client = await aiohttp_client(app)
    link = await _mint(client, {"scope": "pool"})
    assert link["url"].startswith("https://meter.example.org/q/portal/")


async def test_start_up_logs_a_pool_page_link_when_asked(redis_client, store, aiohttp_client, settings, config,
                                                         clock, caplog):
    from meter.app import create_app
    from meter.observability.telemetry import Telemetry

    app = create_app(settings.model_copy(update={"startup_pool_link": True}), config, clock=clock,
                     telemetry=Telemetry(), store=store)
    client = await aiohttp_client(app)
    found = [r for r in caplog.records if getattr(r, "url", None)]
    assert len(found) == 1 and "/portal/" in found[0].getMessage()
    link = await client.app[appkeys.PORTAL_LINKS].resolve(_key(found[0].url))
    assert link.scope == "pool"
