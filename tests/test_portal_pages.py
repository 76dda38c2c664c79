"""The partners' pages over HTTP (DESIGN §11): security headers on every answer, French error
pages (404 unknown or revoked, 410 expired or departed), the reports to download, the pool's
view of one partner, and the style sheet's long caching. The browser checks are in
tests/test_portal_browser.py."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from tests import portal_data
from tests.conftest import auth

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Content-Language": "fr"}


@pytest.fixture
def config(pool_id):
    return portal_data.config(pool_id)


async def _link(client, body: dict) -> str:
    resp = await client.post("/v1/portal/links", json=body, headers=auth("admin"))
    assert resp.status == 201, await resp.text()
    return urlsplit((await resp.json())["url"]).path


def _secure(resp) -> None:
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.headers.get(name))
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp


async def test_pages_carry_the_security_headers_and_no_script(client, clock):
    await portal_data.seed(client, clock)
    for path in (await _link(client, {"signatory": "sancerre"}), await _link(client, {"scope": "pool"})):
        resp = await client.get(path)
        assert resp.status == 200 and resp.content_type == "text/html"
        _secure(resp)
        page = await resp.text()
        assert "<script" not in page and "style=" not in page  # nothing the CSP would block
        assert '<html lang="fr">' in page


@pytest.mark.parametrize("case, status", [("unknown", 404), ("revoked", 404), ("expired", 410), ("left", 410)])
async def test_refusals_are_short_french_pages(client, clock, case, status):
    await portal_data.seed(client, clock)
    resp = await client.post("/v1/portal/links", json={"signatory": "sancerre", "ttl_days": 1}, headers=auth("admin"))
    link = await resp.json()
    path = urlsplit(link["url"]).path
    if case == "unknown":
        path = "/portal/" + "Z" * 43
    elif case == "revoked":
        assert (await client.delete(f"/v1/portal/links/{link['id']}", headers=auth("admin"))).status == 204
    elif case == "expired":
        clock.set(clock.now() + timedelta(days=1, minutes=1))
    else:
        assert (await client.delete("/v1/signatories/sancerre", headers=auth("admin"))).status == 200
    resp = await client.get(path)
    assert resp.status == status and resp.content_type == "text/html"
    _secure(resp)
    page = await resp.text()
    assert "nouveau lien" in page and "opendata@region.example" in page
    assert "Mairie de Sancerre" not in page  # a dead link shows nothing of the partner


async def test_a_bad_month_is_a_400_page_and_a_past_month_is_shown(client, clock):
    await portal_data.seed(client, clock)
    path = await _link(client, {"signatory": "sancerre"})
    resp = await client.get(path, params={"mois": "2026-13"})
    assert resp.status == 400 and resp.content_type == "text/html"
    resp = await client.get(path, params={"mois": "2026-10"})
    assert resp.status == 200
    page = await resp.text()
    assert "en octobre 2026" in page and "Le mois n'est pas terminé" not in page


async def test_reports_download_from_the_page_and_only_the_partners_own(client, clock):
    await portal_data.seed(client, clock)
    path = await _link(client, {"signatory": "sancerre"})
    page = await (await client.get(path)).text()
    assert 'href="' + path.removeprefix("/portal/") + '/rapports/2026-10.pdf"' in page
    resp = await client.get(f"{path}/rapports/2026-10.pdf")
    assert resp.status == 200 and resp.content_type == "application/pdf"
    assert (await resp.read()).startswith(b"%PDF")
    _secure(resp)
    resp = await client.get(f"{path}/rapports/2026-10.csv")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["date", "metric", "used", "allotment"]
    assert (await client.get(f"{path}/rapports/2026-11.pdf")).status == 404  # not over yet
    assert (await client.get(f"{path}/rapports/2025-10.pdf")).status == 404  # before it joined
    assert (await client.get(f"{path}/partenaire/vierzon")).status == 404  # a partner sees itself only
    assert (await client.get(f"{path}/partenaire/vierzon/rapports/2026-10.pdf")).status == 404


async def test_the_pool_link_opens_each_partners_view_and_reports(client, clock):
    await portal_data.seed(client, clock)
    path = await _link(client, {"scope": "pool"})
    page = await (await client.get(path, params={"tri": "nom"})).text()
    key = path.removeprefix("/portal/")
    assert f'href="{key}/partenaire/vierzon?mois=2026-11"' in page
    resp = await client.get(f"{path}/partenaire/vierzon")
    assert resp.status == 200 and "Ville de Vierzon" in await resp.text()
    resp = await client.get(f"{path}/partenaire/vierzon/rapports/2026-10.csv")
    assert resp.status == 200 and resp.content_type == "text/csv"
    resp = await client.get(f"{path}/rapports/2026-10.pdf")  # the consolidated report
    assert resp.status == 200 and (await resp.read()).startswith(b"%PDF")
    assert (await client.get(f"{path}/partenaire/nobody")).status == 404
    assert (await client.get(path, params={"tri": "taille"})).status == 400


async def test_the_style_sheet_is_cached_long_and_named_by_its_content(client):
    resp = await client.get("/portal/static/portal.css")
    assert resp.status == 200 and resp.content_type == "text/css"
    assert "max-age=31536000" in resp.headers["Cache-Control"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/portal/static/other.css")).status == 404


async def test_the_pages_show_the_datasets_compliance(client, clock):
    await portal_data.seed(client, clock)
    page = await (await client.get(await _link(client, {"signatory": "sancerre"}))).text()
    assert "Métadonnées et mises à jour" in page
    assert "Marchés publics" in page and "Descriptif" in page and "Mots-clés" in page  # what to fill in
    assert "Salles communales" in page and "ise à jour attendue au plus tard" in page  # late
    pool = await (await client.get(await _link(client, {"scope": "pool"}))).text()
    assert "2 complets sur 3, 1 en retard" in pool  # Sancerre: marchés publics lacks two fields, one is late
    assert "1 complet sur 1" in pool  # Vierzon: stationnement (the catalogue knows no other of its datasets)
