"""GET /v1/compliance: the catalogue's compliance with the convention, per dataset or per signatory
(DESIGN §12)."""
from __future__ import annotations

from datetime import datetime

from aiohttp import web

from meter.compliance.checks import DatasetCheck, Summary
from meter.compliance.service import compliance_for, pool_compliance
from meter.contract.answers import Error, PoolCompliance, SignatoryCompliance
from meter.contract.requests import ComplianceQuery
from meter.core.errors import NotFound, StoreUnavailable
from meter.http import appkeys
from meter.http.middleware import json_response, requires
from meter.http.operation import Answer, operation
from meter.http.params import query
from meter.registry.ids import UNATTRIBUTED
from meter.store.clickhouse import ClickHouseStore


def _store(request: web.Request) -> ClickHouseStore:
    store = request.app.get(appkeys.STORE)
    if store is None:
        raise StoreUnavailable("this worker process serves check, authz and events only; "
                               "send reads to the process that owns the store")
    return store


def _time(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t is not None else None


def dataset_body(c: DatasetCheck) -> dict:
    return {"dataset": c.dataset, "title": c.title, "missing": c.missing,
            "invalid": [{"field": i.field, "reason": i.reason} for i in c.invalid], "frequency": c.frequency,
            "last_update": _time(c.last_update), "late": c.late, "due": _time(c.due)}


def summary_body(s: Summary) -> dict:
    return {"datasets": s.datasets, "complete": s.complete, "late": s.late}


@operation("The compliance of the catalogue with the convention (metadata, regular updates)", {
    200: Answer("one signatory's datasets (with signatory, or a bound token), else every signatory's summary",
                SignatoryCompliance | PoolCompliance),
    404: Answer("no such signatory", Error),
    503: Answer("the store is unavailable", Error, ("Retry-After",))}, query=ComplianceQuery)
@requires("reader")
async def get_compliance(request: web.Request) -> web.Response:
    principal = request[appkeys.PRINCIPAL]
    signatory = query(request, ComplianceQuery).signatory or principal.signatory
    store, pool, now = _store(request), request.app[appkeys.CONFIG].pool.id, request.app[appkeys.CLOCK].now()
    registry = request.app[appkeys.REGISTRY]
    if signatory is None:
        summaries = await pool_compliance(store, pool, now)
        active = [r["id"] for r in await registry.list() if r.get("active", True)]
        ids = sorted({*active, *summaries} - {UNATTRIBUTED})
        body = {sig: summary_body(summaries.get(sig, Summary())) for sig in ids}
        return json_response(PoolCompliance.model_validate({
            "pool": pool, "checked_at": _time(now), "signatories": body,
            "unattributed": summary_body(summaries.get(UNATTRIBUTED, Summary()))}))
    principal.require_signatory(signatory)
    if signatory != UNATTRIBUTED and await registry.get_or_none(signatory) is None:
        raise NotFound(f"no signatory {signatory!r}")
    found = await compliance_for(store, pool, signatory, now)
    return json_response(SignatoryCompliance.model_validate({
        "signatory": signatory, "checked_at": _time(now), "datasets": [dataset_body(c) for c in found.datasets],
        "summary": summary_body(found.summary)}))
