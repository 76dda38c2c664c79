"""GET /v1/usage and GET /v1/pool."""
from __future__ import annotations

from aiohttp import web

from meter.contract.answers import Error, Pool, Usage
from meter.contract.requests import PeriodQuery, UsageQuery
from meter.core.errors import NotFound, StoreUnavailable
from meter.core.periods import Period, parse_period
from meter.http import appkeys
from meter.http.middleware import json_response, requires
from meter.http.operation import Answer, operation
from meter.http.params import query
from meter.registry.ids import UNATTRIBUTED


def usage_reader(request: web.Request):
    """The reader; an extra worker process (store_owner = false) has none and answers 503."""
    reader = request.app.get(appkeys.USAGE)
    if reader is None:
        raise StoreUnavailable("this worker process serves check, authz and events only; "
                               "send reads to the process that owns the store")
    return reader


def period_param(request: web.Request) -> Period:
    config = request.app[appkeys.CONFIG]
    period = query(request, PeriodQuery).period
    return parse_period(period, config.tz, request.app[appkeys.CLOCK].now())


@operation("A signatory's usage in a period", {
    200: Answer("usage per metric", Usage), 404: Answer("no such signatory", Error),
    503: Answer("the store is unavailable", Error, ("Retry-After",))}, query=UsageQuery)
@requires("reader")
async def get_usage(request: web.Request) -> web.Response:
    principal = request[appkeys.PRINCIPAL]
    if principal.signatory is not None and "signatory" not in request.query:
        signatory = principal.signatory  # a bound token may leave it out
    else:
        signatory = query(request, UsageQuery).signatory
    principal.require_signatory(signatory)
    period = period_param(request)
    if signatory != UNATTRIBUTED and await request.app[appkeys.REGISTRY].get_or_none(signatory) is None:
        raise NotFound(f"no signatory {signatory!r}")
    return json_response(Usage.model_validate(await usage_reader(request).usage(signatory, period)))


@operation("The pool's usage in a period, per signatory", {
    200: Answer("pool usage per metric", Pool),
    503: Answer("the store is unavailable", Error, ("Retry-After",))}, query=PeriodQuery)
@requires("reader")
async def get_pool(request: web.Request) -> web.Response:
    body = await usage_reader(request).pool_view(period_param(request))
    signatory = request[appkeys.PRINCIPAL].signatory
    if signatory is not None:  # a bound reader sees the pool's totals, and only its own share
        for view in body["metrics"].values():
            view["by_signatory"] = {k: v for k, v in view["by_signatory"].items() if k == signatory}
    return json_response(Pool.model_validate(body))
