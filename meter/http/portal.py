"""The partners' pages (DESIGN §11): the admin's links (``/v1/portal/links``) and the pages a
link opens (``/portal/{key}``)."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from meter.contract.answers import Error, PortalLink, PortalLinkInfo, PortalLinkList
from meter.contract.portal import (
    KEY_PATH,
    LINK_ID_PATH,
    REPORT_FILE,
    REPORT_FILE_PATH,
    SIGNATORY_PATH,
    STATIC_PATH,
    PageQuery,
    PortalLinkRequest,
    PortalLinksQuery,
)
from meter.core.errors import InvalidRequest, MeterError, NotFound, Unavailable
from meter.core.periods import Period, parse_period
from meter.core.problems import details
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires, status_of
from meter.http.operation import Answer, operation
from meter.http.params import query
from meter.portal.links import Link, LinkScope, PortalLinks
from meter.portal.pages import Pages, static_file
from meter.reports.lines import POOL


def _links(request: web.Request) -> PortalLinks:
    return request.app[appkeys.PORTAL_LINKS]


def _info(links: PortalLinks, link: Link) -> PortalLinkInfo:
    return PortalLinkInfo(id=link.id, scope=link.scope, signatory=link.signatory,
                          created_at=links.iso(link.created_at), expires_at=links.iso(link.expires_at))


@operation("Mint a link to a partner's page or to the pool's page", {
    201: Answer("the link (its URL is shown once: only its key's hash is kept)", PortalLink),
    404: Answer("no such signatory", Error), 409: Answer("the signatory has left the pool", Error)},
    body={"application/json": PortalLinkRequest})
@requires("admin")
async def post_link(request: web.Request) -> web.Response:
    try:
        body = PortalLinkRequest.model_validate(await json_body(request))
    except ValidationError as exc:  # the scope rule is about the signatory: name it
        raise InvalidRequest("the body is invalid", details(exc, whole="signatory")) from None
    links = _links(request)
    scope: LinkScope = "pool" if body.scope == "pool" else "signatory"
    link, url = await links.mint(scope, body.signatory, int(body.ttl_days))
    return json_response(PortalLink(id=link.id, url=url, scope=link.scope, signatory=link.signatory,
                                    expires_at=links.iso(link.expires_at)), status=201)


@operation("The links still valid (never their key), newest first", {
    200: Answer("the links", PortalLinkList), 404: Answer("no such signatory", Error)}, query=PortalLinksQuery)
@requires("admin")
async def list_links(request: web.Request) -> web.Response:
    asked = query(request, PortalLinksQuery)
    if asked.signatory is not None and await request.app[appkeys.REGISTRY].get_or_none(asked.signatory) is None:
        raise NotFound(f"no signatory {asked.signatory!r}")
    links = _links(request)
    found = await links.list(asked.signatory)
    return json_response(PortalLinkList(links=[_info(links, link) for link in found]))


@operation("Revoke a link: its key opens nothing any more", {
    204: "revoked", 404: Answer("no such link", Error)}, path={"id": LINK_ID_PATH})
@requires("admin")
async def delete_link(request: web.Request) -> web.Response:
    await _links(request).revoke(request.match_info["id"])
    return web.Response(status=204)


# the pages (no token: the link's key is the key)

SECURITY_HEADERS = {
    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Content-Language": "fr",
}
_HTML = ("text/html",)
_PAGE_ERRORS: dict[int, Answer | str] = {
    400: Answer("a malformed month or sort (a French page)", media=_HTML),
    404: Answer("unknown or revoked link (a French page)", media=_HTML),
    410: Answer("expired link, or its partner left the pool (a French page)", media=_HTML),
    503: Answer("the store is unavailable (a French page)", media=_HTML, headers=("Retry-After",)),
}


def _pages(request: web.Request) -> Pages:
    return request.app[appkeys.PORTAL_PAGES]


def _html(text: str, status: int = 200, extra: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers={**SECURITY_HEADERS, **(extra or {})})


async def _answer(request: web.Request, up: str, build: Callable[[Link], Awaitable[web.Response]]) -> web.Response:
    """Resolve the link, then build the answer; any refusal is a short French page."""
    pages = _pages(request)
    try:
        link = await _links(request).resolve(request.match_info["key"])
        return await build(link)
    except MeterError as exc:
        status = status_of(exc)
        if status >= 500:
            request.app[appkeys.TELEMETRY].errors.labels("http", exc.type).inc()
        extra = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Unavailable) else None
        return _html(pages.error(status if status in (400, 404, 410) else 503, up), status if status in (
            400, 404, 410) else 503, extra)


def _month(request: web.Request) -> tuple[Period, PageQuery]:
    asked = query(request, PageQuery)
    config = request.app[appkeys.CONFIG]
    return parse_period(asked.mois, config.tz, request.app[appkeys.CLOCK].now(), field="mois"), asked


@operation("A partner's page, or the pool's page (the link decides); in French", {
    200: Answer("the page", media=_HTML), **_PAGE_ERRORS}, query=PageQuery, path={"key": KEY_PATH})
async def page(request: web.Request) -> web.Response:
    key = request.match_info["key"]

    async def build(link: Link) -> web.Response:
        period, asked = _month(request)
        pages = _pages(request)
        if link.scope == "pool":
            return _html(await pages.pool(period, asked.tri or "appels", "", f"{key}/partenaire/"))
        assert link.signatory is not None
        return _html(await pages.partner(link.signatory, period, "", f"{key}/rapports/"))

    return await _answer(request, "", build)


@operation("A partner's page, opened from the pool's page (a pool link only)", {
    200: Answer("the page", media=_HTML), **_PAGE_ERRORS}, query=PageQuery,
    path={"key": KEY_PATH, "sig": SIGNATORY_PATH})
async def partner_page(request: web.Request) -> web.Response:
    key, sig = request.match_info["key"], request.match_info["sig"]

    async def build(link: Link) -> web.Response:
        if link.scope != "pool":
            raise NotFound("a partner's link opens its own page only")
        period, _ = _month(request)
        back = f"../../{key}?mois={period.label}"
        return _html(await _pages(request).partner(sig, period, "../../", f"{sig}/rapports/", back=back))

    return await _answer(request, "../../", build)


_FILE_ANSWERS: dict[int, Answer | str] = {
    200: Answer("the report", media=("application/pdf", "text/csv")), **_PAGE_ERRORS}


def _file(request: web.Request) -> tuple[Period, str]:
    name = request.match_info["file"]
    if not re.fullmatch(REPORT_FILE, name):
        raise NotFound("no such report")
    month, fmt = name.split(".")
    config = request.app[appkeys.CONFIG]
    try:
        return parse_period(month, config.tz, request.app[appkeys.CLOCK].now(), field="file"), fmt
    except InvalidRequest:
        raise NotFound("no such report") from None


async def _report(request: web.Request, sig: str, period: Period, fmt: str) -> web.Response:
    body = await _pages(request).report_file(sig, period, fmt)
    name = f"{request.app[appkeys.CONFIG].pool.id}-{period.label}-{sig}.{fmt}"
    return web.Response(body=body, headers={
        **SECURITY_HEADERS, "Content-Type": "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"'})


@operation("A finished month's report, from the page's link (PDF or CSV)", _FILE_ANSWERS,
           path={"key": KEY_PATH, "file": REPORT_FILE_PATH})
async def report_file(request: web.Request) -> web.Response:
    async def build(link: Link) -> web.Response:
        period, fmt = _file(request)
        return await _report(request, link.signatory or POOL, period, fmt)

    return await _answer(request, "../../", build)


@operation("A partner's finished month's report, from the pool's page (PDF or CSV)", _FILE_ANSWERS,
           path={"key": KEY_PATH, "sig": SIGNATORY_PATH, "file": REPORT_FILE_PATH})
async def partner_report_file(request: web.Request) -> web.Response:
    async def build(link: Link) -> web.Response:
        if link.scope != "pool":
            raise NotFound("a partner's link opens its own reports only")
        period, fmt = _file(request)
        return await _report(request, request.match_info["sig"], period, fmt)

    return await _answer(request, "../../../../", build)


@operation("The pages' style sheet (cached for a year: its address changes with it)", {
    200: Answer("the file", media=("text/css",)), 404: Answer("no such file", Error)}, path={"name": STATIC_PATH})
async def static(request: web.Request) -> web.Response:
    body = static_file(request.match_info["name"])
    return web.Response(body=body, headers={
        "Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff"})
