"""GET /v1/reports/{month}, GET /v1/reports/{month}/{id}, POST /v1/reports/{month}/send, GET /v1/alerts."""
from __future__ import annotations

import re

from aiohttp import web

from meter.contract.answers import AlertList, Error, ReportList, SendResult
from meter.contract.reports import MONTH, MONTH_PATH, REPORT_ID_PATH, AlertsQuery, ReportQuery, SendRequest
from meter.core.errors import InvalidRequest, NotFound, StoreUnavailable
from meter.core.periods import Period, parse_period
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.http.operation import Answer, operation
from meter.http.params import query, validated
from meter.reports.lines import POOL
from meter.reports.render import CONTENT_TYPES
from meter.reports.service import Reports, require_readable

_UNAVAILABLE = Answer("the store is unavailable", Error, ("Retry-After",))
_MEDIA = tuple(sorted({t.split(";")[0] for t in CONTENT_TYPES.values()}))


def _reports(request: web.Request) -> Reports:
    found = request.app.get(appkeys.REPORTS)
    if found is None:
        raise StoreUnavailable("this worker process does not own the store; ask the process that does")
    return found


def _month(request: web.Request) -> Period:
    text = request.match_info["month"]
    if not re.fullmatch(MONTH, text):
        raise InvalidRequest("month must be YYYY-MM", [{"field": "month", "reason": f"{text!r} is not YYYY-MM"}])
    config = request.app[appkeys.CONFIG]
    return parse_period(text, config.tz, request.app[appkeys.CLOCK].now(), field="month")


@operation("Each report of a month and whether it was sent", {
    200: Answer("one entry per signatory active in the month, and the pool's", ReportList),
    400: Answer("the month is not YYYY-MM", Error), 503: _UNAVAILABLE}, path={"month": MONTH_PATH})
@requires("reader")
async def list_reports(request: web.Request) -> web.Response:
    body = await _reports(request).statuses(_month(request))
    bound = request[appkeys.PRINCIPAL].signatory
    if bound is not None:  # a bound reader sees its own report's status only
        body["reports"] = [r for r in body["reports"] if r["signatory"] == bound]
    return json_response(ReportList.model_validate(body))


@operation("A month's report (the month in progress: provisional)", {
    200: Answer("the report in the format asked", media=_MEDIA), 404: Answer("no such signatory", Error),
    503: _UNAVAILABLE}, query=ReportQuery, path={"month": MONTH_PATH, "id": REPORT_ID_PATH})
@requires("reader")
async def get_report(request: web.Request) -> web.Response:
    fmt = query(request, ReportQuery).format
    period, sig = _month(request), request.match_info["id"]
    require_readable(request[appkeys.PRINCIPAL].signatory, sig)
    if sig != POOL and await request.app[appkeys.REGISTRY].get_or_none(sig) is None:
        raise NotFound(f"no signatory {sig!r}")
    rendered = await _reports(request).report(period, sig)
    headers = {"Content-Type": CONTENT_TYPES[fmt]}
    if fmt in ("pdf", "csv"):
        name = f"{request.app[appkeys.CONFIG].pool.id}-{period.label}-{sig}.{fmt}"
        headers["Content-Disposition"] = f'inline; filename="{name}"'
    return web.Response(body=rendered.body(fmt), headers=headers)


@operation("Send a finished month's reports (each once unless resend)", {
    202: Answer("queued for sending", SendResult), 404: Answer("an unknown signatory", Error),
    409: Answer("the month is not over, or no mail server is configured", Error), 503: _UNAVAILABLE},
    body={"application/json": SendRequest}, body_required=False, path={"month": MONTH_PATH})
@requires("admin")
async def send_reports(request: web.Request) -> web.Response:
    raw = await json_body(request) if await request.read() else {}
    body = validated(SendRequest, raw, "body")
    reports = _reports(request)
    result = await reports.queue(_month(request), body.signatories, body.resend)
    reports.kick()
    return json_response(SendResult.model_validate(result), status=202)


@operation("Quota alerts fired in a period", {200: Answer("alerts, oldest first", AlertList)}, query=AlertsQuery)
@requires("reader")
async def list_alerts(request: web.Request) -> web.Response:
    asked = query(request, AlertsQuery)
    config = request.app[appkeys.CONFIG]
    period = parse_period(asked.period, config.tz, request.app[appkeys.CLOCK].now())
    bound = request[appkeys.PRINCIPAL].signatory
    if bound is not None and asked.signatory not in (None, bound):
        require_readable(bound, asked.signatory)
    alerts = request.app[appkeys.ALERTS]
    return json_response(AlertList.model_validate({"alerts": await alerts.list(period, asked.signatory, bound)}))
