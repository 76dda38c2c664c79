"""Operations: /healthz, /readyz, /metrics, /openapi.json (no token needed)."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from meter.contract.answers import Health, Readiness
from meter.http import appkeys
from meter.http.middleware import json_response
from meter.http.operation import Answer, operation


@operation("Process is up", {200: Answer("up", Health)})
async def healthz(request: web.Request) -> web.Response:
    return json_response(Health(status="ok"))


@operation("Redis and ClickHouse reachable", {200: Answer("ready", Readiness),
                                                  503: Answer("not ready: checks says which part", Readiness)})
async def readyz(request: web.Request) -> web.Response:
    """503 while Redis or ClickHouse does not answer, or once the writer has failed for
    METER_WRITER_UNREADY_S (DESIGN §7); ``checks`` says which."""
    checks: dict[str, object] = {"redis": False}
    try:
        checks["redis"] = await request.app[appkeys.STORES].ping()
    except Exception:  # any failure means "not ready"; the answer says which part
        pass
    store = request.app.get(appkeys.STORE)
    if store is not None:  # an extra worker process owns no store: Redis is all it needs
        checks["clickhouse"] = await store.ping()
    writer = request.app.get(appkeys.WRITER)
    if writer is not None and writer.running:
        failing = writer.failing_for()
        checks["writer"] = failing < request.app[appkeys.SETTINGS].writer_unready_s
        if failing:
            checks["writer_failing_s"] = round(failing, 1)
    ready = all(v for k, v in checks.items() if k != "writer_failing_s")
    body = {"status": "ready" if ready else "unavailable", "checks": checks, "allotments": _allotments(request)}
    return json_response(Readiness.model_validate(body), 200 if ready else 503)


def _allotments(request: web.Request) -> dict[str, object]:
    """Stale allotments do not make the process unready (decisions go on with the ones in force),
    but an operator reading /readyz is told, with the cause."""
    allocator = request.app.get(appkeys.ALLOCATOR)
    cause = allocator.stale_cause if allocator is not None else None
    return {"stale": cause is not None, **({"error": cause} if cause else {})}


@operation("Prometheus metrics", {200: "text exposition format"})
async def metrics(request: web.Request) -> web.Response:
    registry = request.app[appkeys.TELEMETRY].registry
    try:
        request.app[appkeys.TELEMETRY].stream_lag.set(await request.app[appkeys.LEDGER].backlog())
    except Exception:  # the lag gauge keeps its last value when Redis is away
        pass
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
