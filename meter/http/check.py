"""POST /v1/check: one decision or a batch, answered in the same order."""
from __future__ import annotations

from aiohttp import web

from meter.contract.answers import Decisions, Error, decision_body
from meter.contract.checks import parse_checks, require_own
from meter.contract.requests import CHECK_BODY
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.http.operation import Answer, operation


@operation("Allow or deny (and count) one request, or a batch answered in the same order", {
    200: Answer("the decision, or the decisions in order; X-Meter-Degraded when Redis could not decide",
                Decisions, ("X-Meter-Degraded",)),
    409: Answer("an id already used for another request", Error)},
    body={"application/json": CHECK_BODY})
@requires("gateway")
async def post_check(request: web.Request) -> web.Response:
    asks, batch = parse_checks(await json_body(request))
    bound = request[appkeys.PRINCIPAL].signatory
    if bound is not None:  # a bound gateway decides for its signatory only (DESIGN §4)
        require_own(asks, bound)
    decisions = await request.app[appkeys.DECIDER].decide(asks)
    headers = None
    for d in decisions:
        if d.degraded:
            headers = {"X-Meter-Degraded": d.degraded}
            break
    if batch:
        return json_response([decision_body(d) for d in decisions], headers=headers)
    return json_response(decision_body(decisions[0]), headers=headers)
