"""GET /v1/allocations, POST /v1/allocations/recompute, POST /v1/allocations/simulate."""
from __future__ import annotations

from aiohttp import web

from meter.allocation.base import AllocationError, Member, Params, apportion
from meter.allocation.explain import anonymised
from meter.allocation.policies import POLICIES
from meter.contract.answers import Allocation, Error, Simulation
from meter.contract.requests import PeriodQuery, RecomputeRequest, SimulationRequest
from meter.core.errors import InvalidRequest
from meter.core.periods import parse_period
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.http.operation import Answer, operation
from meter.http.params import validated
from meter.http.usage import period_param

_UNAVAILABLE = Answer("the store or Redis is unavailable", Error, ("Retry-After",))


@operation("The allotments of a period, and why", {
    200: Answer("stored, or a projection for a period with none stored", Allocation),
    409: Answer("the allocation cannot be computed from the registry as it is", Error), 503: _UNAVAILABLE},
    query=PeriodQuery)
@requires("reader")
async def get_allocations(request: web.Request) -> web.Response:
    doc = await request.app[appkeys.ALLOCATOR].get(period_param(request))
    signatory = request[appkeys.PRINCIPAL].signatory
    if signatory is not None:  # a bound reader sees its own allotments only, and no other's name
        records = await request.app[appkeys.REGISTRY].list()
        own = [signatory, *(r.get("name", "") for r in records if r.get("id") == signatory)]
        others = [*doc["signatories"], *(term for r in records if r.get("id") != signatory
                                         for term in (r.get("id", ""), r.get("name", "")))]
        doc["signatories"] = {k: v for k, v in doc["signatories"].items() if k == signatory}
        doc.pop("inputs", None)
        doc["explanation"] = anonymised(doc["explanation"], others, own, "en")
        if doc.get("explanation_fr"):
            doc["explanation_fr"] = anonymised(doc["explanation_fr"], others, own, "fr")
    return json_response(Allocation.model_validate(doc))


@operation("Compute and store the current (or a future) period's allotments", {
    200: Answer("the stored allocation", Allocation),
    409: Answer("a past period, or an allocation that cannot be computed from the registry", Error),
    503: _UNAVAILABLE}, body={"application/json": RecomputeRequest}, body_required=False)
@requires("admin")
async def recompute(request: web.Request) -> web.Response:
    raw = await request.read()
    body = validated(RecomputeRequest, await json_body(request) if raw.strip() else {}, "body")
    config, clock = request.app[appkeys.CONFIG], request.app[appkeys.CLOCK]
    period = parse_period(body.period, config.tz, clock.now()) if body.period is not None else None
    return json_response(Allocation.model_validate(await request.app[appkeys.ALLOCATOR].recompute(period, "request")))


@operation("Try a policy on given signatories before adopting it", {200: Answer("the allotments", Simulation)},
           body={"application/json": SimulationRequest}, description=(
               "Rules the schema cannot state answer 400: the ids are unique, and the policy's own "
               "conditions hold (for instance a positive total weight under 'weighted')."))
@requires("admin")
async def simulate(request: web.Request) -> web.Response:
    req = validated(SimulationRequest, await json_body(request), "simulation input")
    members = [Member(m.id, m.weight, None if m.demand is None else int(m.demand)) for m in req.signatories]
    params = Params(reserved_fraction=req.reserved_fraction, unattributed_share=0.0)
    try:
        result = apportion(POLICIES[req.policy], int(req.cap), members, params)
    except AllocationError as exc:
        raise InvalidRequest(exc.message, exc.details) from None
    if result.burst:
        return json_response(Simulation(allotments=result.shares, burst=result.burst))
    return json_response(Simulation(allotments=result.shares))
