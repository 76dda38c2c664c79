"""The route table: every endpoint of the API, in one place (kept true by tests/test_openapi.py)."""
from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from meter.http import (
    allocations,
    appkeys,
    authz,
    check,
    compliance,
    events,
    ops,
    portal,
    reports,
    reservations,
    signatories,
    usage,
)
from meter.http.middleware import json_response
from meter.http.openapi import spec
from meter.http.operation import operation


async def noop(request: web.Request) -> web.Response:
    """The benchmarks' baseline: what aiohttp costs with no work at all (empty body)."""
    await request.read()
    return web.Response(status=200)


# Envoy's HTTP ext_authz keeps the client's method (DESIGN 4 lists those the hook takes)
AUTHZ_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@operation("This document", {200: "OpenAPI 3.1"})
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


@cache
def openapi_document() -> dict[str, Any]:
    """/openapi.json: generated from the route table, once."""
    return spec(route_table())


def add_routes(app: web.Application) -> None:
    if app[appkeys.SETTINGS].bench_noop:
        app.router.add_routes([web.get("/_bench/noop", noop), web.post("/_bench/noop", noop)])
    app.router.add_routes(route_table())


def route_table() -> list[web.RouteDef]:
    """Every route of the API; the OpenAPI document is generated from this list."""
    return [
        web.get("/healthz", ops.healthz),
        web.get("/readyz", ops.readyz),
        web.get("/metrics", ops.metrics),
        web.get("/openapi.json", openapi),
        web.post("/v1/events", events.post_events),
        web.post("/v1/check", check.post_check),
        web.get("/v1/authz", authz.get_authz),
        # Envoy's HTTP ext_authz: the client's method, and its path under the prefix (any
        # character: a path's newline, decoded from %0A, is still the client's path); HEAD is
        # a route of its own, so the spec lists it
        *(web.route(method, r"/v1/authz/{original:[\s\S]*}", authz.authz_original,
                    **({"allow_head": False} if method == "GET" else {})) for method in AUTHZ_METHODS),
        web.post("/v1/reservations", reservations.post_reservation),
        web.post("/v1/reservations/{id}/commit", reservations.commit_reservation),
        web.delete("/v1/reservations/{id}", reservations.delete_reservation),
        web.get("/v1/allocations", allocations.get_allocations),
        web.post("/v1/allocations/recompute", allocations.recompute),
        web.post("/v1/allocations/simulate", allocations.simulate),
        web.get("/v1/usage", usage.get_usage),
        web.get("/v1/pool", usage.get_pool),
        web.get("/v1/signatories", signatories.list_signatories),
        web.post("/v1/signatories/import", signatories.import_signatories),
        web.get("/v1/signatories/{id}", signatories.get_signatory),
        web.put("/v1/signatories/{id}", signatories.put_signatory),
        web.delete("/v1/signatories/{id}", signatories.delete_signatory),
        web.get("/v1/signatories/{id}/history", signatories.get_history),
        # reports and alerts (DESIGN §8)
        web.get("/v1/reports/{month}", reports.list_reports),
        web.get("/v1/reports/{month}/{id}", reports.get_report),
        web.post("/v1/reports/{month}/send", reports.send_reports),
        web.get("/v1/alerts", reports.list_alerts),
        web.get("/v1/compliance", compliance.get_compliance),  # DESIGN §12
        # the partners' pages (DESIGN §11)
        web.post("/v1/portal/links", portal.post_link),
        web.get("/v1/portal/links", portal.list_links),
        web.delete("/v1/portal/links/{id}", portal.delete_link),
        web.get("/portal/static/{name}", portal.static),
        web.get("/portal/{key}", portal.page),
        web.get("/portal/{key}/rapports/{file}", portal.report_file),
        web.get("/portal/{key}/partenaire/{sig}", portal.partner_page),
        web.get("/portal/{key}/partenaire/{sig}/rapports/{file}", portal.partner_report_file),
    ]
