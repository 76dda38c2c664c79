"""The partners' pages in a real browser (DESIGN §11): Debian's headless Chromium driven by
Playwright (``executable_path``: nothing is downloaded), axe-core's default run (best-practice
rules included) with zero violations on every page at 1280 and 320 px wide; the figures on a
partner's page are /v1/usage's, no other partner is named, and nothing overflows at 320 px.

``make test`` installs Chromium (scripts/test-deps.sh); without it these tests fail, saying so.
With METER_PORTAL_SCREENSHOTS=<dir> they also save the screenshots of docs/img/portal-*.png.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, async_playwright

from meter.reports.words import Words
from tests import portal_data
from tests.conftest import auth

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.browser]
WIDTHS = {"desktop": (1280, 900), "phone": (320, 640)}
CHROMIUM = os.environ.get("METER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = os.environ.get("METER_PORTAL_SCREENSHOTS")
OTHERS = [name for sid, (name, _, _) in portal_data.PARTNERS.items() if sid != "sancerre"] + \
    [sid for sid in portal_data.PARTNERS if sid != "sancerre"]


@pytest.fixture
def config(pool_id):
    return portal_data.config(pool_id)


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: the browser tests need Debian's chromium package "
                    "(scripts/test-deps.sh installs it; as root: apt-get install chromium), or METER_CHROMIUM")
    async with async_playwright() as pw:
        found = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield found
        await found.close()


async def _link(client, body: dict) -> str:
    resp = await client.post("/v1/portal/links", json=body, headers=auth("admin"))
    assert resp.status == 201, await resp.text()
    return urlsplit((await resp.json())["url"]).path


async def _open(browser, client, path: str, width: str) -> tuple[Page, int]:
    w, h = WIDTHS[width]
    context = await browser.new_context(viewport={"width": w, "height": h}, locale="fr-FR")
    page = await context.new_page()
    resp = await page.goto(str(client.make_url(path)))
    assert resp is not None
    return page, resp.status


async def _check(page: Page, what: str, width: str) -> None:
    """axe's default run finds nothing, the page is French, titled, and fits the width."""
    results = await Axe().run(page)
    assert results.violations_count == 0, f"{what} at {width}: axe found\n{results.generate_report()}"
    assert await page.get_attribute("html", "lang") == "fr"
    assert (await page.title()).strip()
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{what} at {width}: the page is {overflow} px wider than the window"
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"portal-{what}-{width}.png"), full_page=True)


async def test_a_partners_page_is_accessible_true_to_usage_and_names_no_one_else(client, clock, browser):
    await portal_data.seed(client, clock)
    path = await _link(client, {"signatory": "sancerre"})
    resp = await client.get("/v1/usage", params={"signatory": "sancerre"}, headers=auth("reader"))
    usage = (await resp.json())["metrics"]
    w = Words("fr")
    for width in WIDTHS:
        page, status = await _open(browser, client, path, width)
        assert status == 200
        await _check(page, "partner", width)
        text = await page.inner_text("body")
        for other in OTHERS:
            assert other not in text and other not in await page.content(), f"another partner ({other}) is named"
        for metric, figures in usage.items():
            if metric == "dataset_records":
                continue
            heading = w.metric_title(metric)
            sentence = await page.locator(".jauge", has=page.get_by_role("heading", name=heading, exact=True)) \
                .locator("p").first.inner_text()
            assert sentence.startswith(f"{heading} : {w.amount(metric, figures['used'])} utilisés"), sentence
            if figures["allotment"] is not None:
                assert f"votre part de {w.amount(metric, figures['allotment'])}" in sentence, sentence
        calls = usage["api_calls"]
        left = calls["allotment"] - calls["used"]
        assert f"Il vous reste {w.number(max(0, left))} appels API" in text
        # the chart: an image with a text alternative, its figures in a table
        chart = page.get_by_role("img", name="Appels API jour par jour, novembre 2026")
        assert await chart.count() == 1
        await page.get_by_text("Les chiffres jour par jour").click()
        rows = page.locator("details.chiffres tbody tr")
        assert await rows.count() == 30
        total = await rows.nth(16).locator("td").nth(1).inner_text()  # the 17th: the last day with calls
        assert total == w.number(calls["used"])
        await page.context.close()


async def test_the_pool_page_lists_every_partner_sorted_and_links_to_each(client, clock, browser):
    await portal_data.seed(client, clock)
    path = await _link(client, {"scope": "pool"})
    for width in WIDTHS:
        page, status = await _open(browser, client, path, width)
        assert status == 200
        await _check(page, "pool", width)
        names = await page.locator("table.partenaires tbody th").all_inner_texts()
        assert names == ["Ville de Vierzon", "Communauté de communes du Pays Fort", "Mairie de Sancerre"]
        await page.get_by_role("link", name="Partenaire", exact=True).click()
        names = await page.locator("table.partenaires tbody th").all_inner_texts()
        assert names == sorted(names)
        await page.get_by_role("link", name="Mairie de Sancerre").click()
        assert await page.get_by_role("heading", level=1).inner_text() == \
            "Mairie de Sancerre\nUtilisation du portail en novembre 2026"
        await _check(page, "pool-partner", width)
        await page.context.close()


@pytest.mark.parametrize("what, status", [("expired", 410), ("unknown", 404)])
async def test_expired_and_unknown_links_say_what_to_do(client, clock, browser, what, status):
    path = await _link(client, {"scope": "pool", "ttl_days": 1})
    if what == "expired":
        from datetime import timedelta
        clock.set(clock.now() + timedelta(days=2))
    else:
        path = "/portal/" + "x" * 43
    for width in WIDTHS:
        page, got = await _open(browser, client, path, width)
        assert got == status
        await _check(page, what, width)
        assert "un nouveau lien" in await page.inner_text("main")
        await page.context.close()
