"""Reservations: POST /v1/reservations, POST /v1/reservations/{id}/commit, DELETE /v1/reservations/{id}."""
from __future__ import annotations

from aiohttp import web

from meter.decision.model import parse_commit, parse_reservation
from meter.decision.reservations import new_id
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires


@requires("gateway")
async def post_reservation(request: web.Request) -> web.Response:
    ask = parse_reservation(await json_body(request), new_id())
    decision, body = await request.app[appkeys.RESERVATIONS].hold(ask)
    return json_response(body, status=201 if decision.allowed else 409)


@requires("gateway")
async def commit_reservation(request: web.Request) -> web.Response:
    amount = parse_commit(await json_body(request))
    return json_response(await request.app[appkeys.RESERVATIONS].commit(request.match_info["id"], amount))


@requires("gateway")
async def delete_reservation(request: web.Request) -> web.Response:
    return json_response(await request.app[appkeys.RESERVATIONS].release(request.match_info["id"]))
