"""GET /v1/reports/{month}, GET /v1/reports/{month}/{id}, POST /v1/reports/{month}/send, GET /v1/alerts."""
from __future__ import annotations

import re

from aiohttp import web

from meter.errors import InvalidRequest, NotFound, StoreUnavailable
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.periods import Period, parse_period
from meter.reports.lines import POOL
from meter.reports.render import CONTENT_TYPES
from meter.reports.requests import MONTH_PATTERN, AlertsQuery, ReportQuery, SendBody, parse
from meter.reports.service import Reports, require_readable


def _reports(request: web.Request) -> Reports:
    found = request.app.get(appkeys.REPORTS)
    if found is None:
        raise StoreUnavailable("this worker process does not own the store; ask the process that does")
    return found


def _month(request: web.Request) -> Period:
    text = request.match_info["month"]
    if not re.match(MONTH_PATTERN, text):
        raise InvalidRequest("month must be YYYY-MM", [{"field": "month", "reason": f"{text!r} is not YYYY-MM"}])
    config = request.app[appkeys.CONFIG]
    return parse_period(text, config.tz, request.app[appkeys.CLOCK].now(), field="month")


@requires("reader")
async def list_reports(request: web.Request) -> web.Response:
    body = await _reports(request).statuses(_month(request))
    bound = request[appkeys.PRINCIPAL].signatory
    if bound is not None:  # a bound reader sees its own report's status only
        body["reports"] = [r for r in body["reports"] if r["signatory"] == bound]
    return json_response(body)


@requires("reader")
async def get_report(request: web.Request) -> web.Response:
    query = parse(ReportQuery, dict(request.query), "query")
    period, sig = _month(request), request.match_info["id"]
    require_readable(request[appkeys.PRINCIPAL].signatory, sig)
    if sig != POOL and await request.app[appkeys.REGISTRY].get_or_none(sig) is None:
        raise NotFound(f"no signatory {sig!r}")
    rendered = await _reports(request).report(period, sig)
    body = rendered.body(query.format)
    headers = {}
    if query.format in ("pdf", "csv"):
        name = f"{request.app[appkeys.CONFIG].pool.id}-{period.label}-{sig}.{query.format}"
        headers["Content-Disposition"] = f'inline; filename="{name}"'
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPES[query.format], **headers})


@requires("admin")
async def send_reports(request: web.Request) -> web.Response:
    raw = await json_body(request) if await request.read() else {}
    body = parse(SendBody, raw, "body")
    reports = _reports(request)
    result = await reports.queue(_month(request), body.signatories, body.resend)
    reports.kick()
    return json_response(result, status=202)


@requires("reader")
async def list_alerts(request: web.Request) -> web.Response:
    query = parse(AlertsQuery, dict(request.query), "query")
    config = request.app[appkeys.CONFIG]
    period = parse_period(query.period, config.tz, request.app[appkeys.CLOCK].now())
    bound = request[appkeys.PRINCIPAL].signatory
    if bound is not None and query.signatory not in (None, bound):
        require_readable(bound, query.signatory)
    alerts = request.app[appkeys.ALERTS]
    return json_response({"alerts": await alerts.list(period, query.signatory, bound)})
