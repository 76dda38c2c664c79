"""GET /v1/allocations, POST /v1/allocations/recompute, POST /v1/allocations/simulate."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from meter.allocation.base import AllocationError, Member, Params, apportion
from meter.allocation.policies import POLICIES
from meter.errors import InvalidRequest
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.http.usage import period_param
from meter.periods import parse_period
from meter.registry.model import MAX_WEIGHT
from meter.settings import MAX_INT

MAX_MEMBERS = 10_000


@requires("reader")
async def get_allocations(request: web.Request) -> web.Response:
    doc = await request.app[appkeys.ALLOCATOR].get(period_param(request))
    signatory = request[appkeys.PRINCIPAL].signatory
    if signatory is not None:  # a bound reader sees its own allotments only
        doc["signatories"] = {k: v for k, v in doc["signatories"].items() if k == signatory}
        doc.pop("inputs", None)
    return json_response(doc)


@requires("admin")
async def recompute(request: web.Request) -> web.Response:
    body = await json_body(request) if request.can_read_body else {}
    if not isinstance(body, dict) or set(body) - {"period"}:
        raise InvalidRequest("the body is {\"period\"?}", [{"field": "", "reason": "only 'period' is accepted"}])
    config, clock = request.app[appkeys.CONFIG], request.app[appkeys.CLOCK]
    period = parse_period(body["period"], config.tz, clock.now()) if body.get("period") is not None else None
    return json_response(await request.app[appkeys.ALLOCATOR].recompute(period, "request"))


def _simulation_input(body: Any) -> tuple[str, int, list[Member], Params]:
    problems: list[dict[str, Any]] = []
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", [{"field": "", "reason": "not an object"}])
    policy = body.get("policy")
    if not isinstance(policy, str) or policy not in POLICIES:
        problems.append({"field": "policy", "reason": f"must be one of {', '.join(POLICIES)}"})
    cap = body.get("cap")
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_INT:
        problems.append({"field": "cap", "reason": f"must be an integer from 0 to {MAX_INT}"})
        cap = 0
    members = _members(body.get("signatories"), problems)
    fraction = body.get("reserved_fraction", 0.5)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        problems.append({"field": "reserved_fraction", "reason": "must be a number from 0 to 1"})
    if problems:
        raise InvalidRequest("the simulation input is invalid", problems)
    return str(policy), cap, members, Params(reserved_fraction=float(fraction), unattributed_share=0.0)


def _members(raw: Any, problems: list[dict[str, Any]]) -> list[Member]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_MEMBERS:
        problems.append({"field": "signatories", "reason": f"must be a non-empty array of at most {MAX_MEMBERS}"})
        return []
    members = []
    for i, item in enumerate(raw):
        where = f"signatories[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item.get("id"):
            problems.append({"field": f"{where}.id", "reason": "is required (a string)"})
            continue
        weight, demand = item.get("weight", 1), item.get("demand")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= MAX_WEIGHT:
            problems.append({"field": f"{where}.weight", "reason": f"must be a number from 0 to {MAX_WEIGHT}"})
            continue
        if demand is not None and (isinstance(demand, bool) or not isinstance(demand, int) or not 0 <= demand <= MAX_INT):
            problems.append({"field": f"{where}.demand", "reason": f"must be an integer from 0 to {MAX_INT}"})
            continue
        members.append(Member(item["id"], float(weight), demand))
    return members


@requires("admin")
async def simulate(request: web.Request) -> web.Response:
    policy, cap, members, params = _simulation_input(await json_body(request))
    try:
        result = apportion(POLICIES[policy], cap, members, params)
    except AllocationError as exc:
        raise InvalidRequest(exc.message, exc.details) from None
    body: dict[str, Any] = {"allotments": result.shares}
    if result.burst:
        body["burst"] = result.burst
    return json_response(body)
