"""GET /v1/authz: the gateway hook (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz).

Every answer has an empty body: nginx drops its keep-alive connection to the auth service when
the answer has one. Allowed: 200. Denied: 429, or the status ``?deny_status=`` asks for (403 for
nginx, whose shipped snippet maps it back to 429 for the client).
"""
from __future__ import annotations

import ipaddress
import logging

from aiohttp import web

from meter.attribution.paths import dataset_of
from meter.contract.requests import AuthzQuery
from meter.core.errors import Forbidden, MeterError, Unauthorized
from meter.decision.gateway import original_host, original_uri, rate_headers
from meter.decision.model import Ask
from meter.http import appkeys
from meter.http.auth import secret_from
from meter.http.operation import Answer, operation

DENY_STATUSES = {"429": 429, "403": 403}
AUTHZ_PATH = "/v1/authz"
log = logging.getLogger("meter.authz")


def _trusted(request: web.Request) -> bool:
    networks = request.app[appkeys.TRUSTED_GATEWAYS]
    if not networks or request.remote is None:
        return False
    try:
        address = ipaddress.ip_address(request.remote)
    except ValueError:
        return False
    return any(address in net for net in networks)


def _authorize(request: web.Request) -> str | None:
    """The signatory the gateway's token is bound to, if it is."""
    secret = secret_from(request.headers)
    if secret is None and _trusted(request):
        return None
    principal = request.app[appkeys.TOKENS].resolve(secret)
    principal.require("gateway")
    return principal.signatory


async def _someone_elses(request: web.Request, ask: Ask, bound: str) -> bool:
    """A bound gateway answers for its signatory only: the request is attributed first (host,
    then dataset, as decide.lua does), and another's is denied with nothing consumed."""
    owner = (await request.app[appkeys.STORES].owners.owners([((ask.host or "").lower(), ask.dataset or "")]))[0]
    return owner != bound


def _original(request: web.Request) -> tuple[str, int | None]:
    """(original URI, deny status or None when invalid).

    Envoy's HTTP ext_authz sends the client's method and path under our prefix
    (/v1/authz/<original path and query>): there the path is authoritative and the query is the
    client's, so no deny_status is read from it.
    """
    if "original" in request.match_info:
        return request.raw_path.removeprefix(AUTHZ_PATH) or "/", 429
    return original_uri(request.headers), DENY_STATUSES.get(request.query.get("deny_status", "429"))


_ANSWERS: dict[int, Answer | str] = {
    200: "allowed", 401: "no valid token", 403: "denied (deny_status=403), or a token whose role may not",
    429: Answer("denied", headers=("Retry-After", "RateLimit", "RateLimit-Policy", "X-Meter-Signatory")),
    503: Answer("no decision possible", headers=("Retry-After",))}


@operation("Gateway hook (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth); empty bodies",
           {**_ANSWERS, 400: "deny_status is not 403 or 429"}, query=AuthzQuery)
async def get_authz(request: web.Request) -> web.Response:
    return await _answer(request)


@operation("Gateway hook for Envoy's HTTP ext_authz: the client's method and path under /v1/authz", _ANSWERS,
           path={"original": {"type": "string", "description": "the client's path and query"}})
async def authz_original(request: web.Request) -> web.Response:
    return await _answer(request)


async def _answer(request: web.Request) -> web.Response:
    try:
        return await _authz(request)
    except Exception:  # never a body, never a 500 page: the gateway applies its own fail mode
        log.exception("authz failed")
        return web.Response(status=503, headers={"Retry-After": "2"})


async def _authz(request: web.Request) -> web.Response:
    try:
        bound = _authorize(request)
    except (Unauthorized, Forbidden) as exc:
        return web.Response(status=401 if isinstance(exc, Unauthorized) else 403)
    uri, deny_status = _original(request)
    if deny_status is None:
        return web.Response(status=400, headers={"X-Meter-Error": "deny_status must be 403 or 429"})
    ask = Ask(metric="api_calls", host=original_host(request.headers), dataset=dataset_of(uri))
    decider = request.app[appkeys.DECIDER]
    try:
        if bound is not None and await _someone_elses(request, ask, bound):
            return web.Response(status=403, headers={"X-Meter-Error": f"this gateway token answers for {bound} only"})
        decision = (await decider.decide([ask]))[0]
    except MeterError:
        return web.Response(status=503, headers={"Retry-After": "2"})
    now = request.app[appkeys.CLOCK].now()
    headers = rate_headers(decision, now, decider.window_seconds("api_calls", now))
    return web.Response(status=200 if decision.allowed else deny_status, headers=headers)


get_authz.own_roles = ("gateway",)  # type: ignore[attr-defined]  # checked here: empty-body answers
authz_original.own_roles = ("gateway",)  # type: ignore[attr-defined]
