"""The partners' pages (DESIGN §11): the admin's links (``/v1/portal/links``) and the pages a
link opens (``/portal/{key}``)."""
from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from meter.contract.answers import Error, PortalLink, PortalLinkInfo, PortalLinkList
from meter.contract.portal import LINK_ID_PATH, PortalLinkRequest, PortalLinksQuery
from meter.core.errors import InvalidRequest, NotFound
from meter.core.problems import details
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.http.operation import Answer, operation
from meter.http.params import query
from meter.portal.links import Link, LinkScope, PortalLinks


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
