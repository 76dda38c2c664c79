"""POST /v1/check: one decision or a batch, answered in the same order."""
from __future__ import annotations

import orjson
from aiohttp import web

from meter.decision.model import parse_checks
from meter.errors import InvalidRequest
from meter.http import appkeys
from meter.http.middleware import json_response, requires


async def json_body(request: web.Request) -> object:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("the body is not valid JSON", [{"field": "body", "reason": str(exc)}]) from None


@requires("gateway")
async def post_check(request: web.Request) -> web.Response:
    asks, batch = parse_checks(await json_body(request))
    decisions = await request.app[appkeys.DECIDER].decide(asks)
    headers = {"X-Meter-Degraded": decisions[0].degraded} if any(d.degraded for d in decisions) else None
    if batch:
        return json_response([d.body() for d in decisions], headers=headers)
    return json_response(decisions[0].body(), headers=headers)
