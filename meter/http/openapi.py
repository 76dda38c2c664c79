"""The OpenAPI 3.1 description of the whole API, served at /openapi.json.

``tests/test_openapi.py`` keeps it true: every route of the app is here and nothing else is, and
real answers are validated against the schemas named here.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from meter import __version__
from meter.settings import METRICS

_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["type", "message"], "properties": {
        "type": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "array", "items": {
            "type": "object", "required": ["field", "reason"],
            "properties": {"index": {"type": ["integer", "null"], "description": "0-based event of a batch"},
                           "row": {"type": "integer", "description": "1-based data row of a CSV import"},
                           "field": {"type": "string"}, "reason": {"type": "string"}}}}}}},
}
_METRIC_USAGE = {
    "type": "object", "required": ["used", "allotment", "cap", "pool_used", "percent", "reset"],
    "properties": {"used": {"type": "integer"}, "allotment": {"type": ["integer", "null"]},
                   "cap": {"type": "integer"}, "pool_used": {"type": "integer"},
                   "percent": {"type": ["number", "null"]}, "reset": {"type": ["string", "null"]}},
}
_SIGNATORY_BODY = {
    "type": "object", "required": ["name", "kind"],
    "properties": {
        "name": {"type": "string"}, "kind": {"enum": ["region", "departement", "epci", "commune", "other"]},
        "population": {"type": ["integer", "null"]}, "publication": {"enum": ["direct", "subdomain"]},
        "hosts": {"type": "array", "items": {"type": "string"}},
        "emails": {"type": "array", "items": {"type": "string"}},
        "joined_at": {"type": "string", "format": "date"}, "left_at": {"type": ["string", "null"], "format": "date"},
        "weight": {"type": "number"}},
}
_SIGNATORY = {"allOf": [{"$ref": "#/components/schemas/SignatoryBody"},
                        {"type": "object", "required": ["id", "active", *_SIGNATORY_BODY["properties"]],
                         "properties": {"id": {"type": "string"}, "active": {"type": "boolean"}}}]}
_CHANGE = {"type": "object", "required": ["at", "action", "changed_by", "record"], "properties": {
    "at": {"type": "string", "format": "date-time"}, "action": {"enum": ["put", "delete", "import"]},
    "changed_by": {"type": "string", "description": "the token's name (or 'cli')"},
    "record": {"allOf": [{"$ref": "#/components/schemas/SignatoryBody"},
                         {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}]}}}
_CHECK = {"type": "object", "required": ["signatory", "metric"], "additionalProperties": False, "properties": {
    "signatory": {"type": "string"}, "metric": {"enum": list(METRICS)},
    "amount": {"type": "integer", "minimum": 0, "default": 1}, "dataset": {"type": "string"},
    "consume": {"type": "boolean", "default": True}, "id": {"type": "string"}}}
_DECISION = {"type": "object", "required": ["allowed", "metric", "scope", "limit", "used", "remaining", "reset",
                                            "signatory"], "properties": {
    "allowed": {"type": "boolean"}, "metric": {"type": "string"},
    "scope": {"enum": ["pool", "signatory", "dataset"]},
    "limit": {"type": ["integer", "null"]}, "used": {"type": ["integer", "null"], "description": "null when degraded"},
    "remaining": {"type": ["integer", "null"]}, "reset": {"type": ["string", "null"], "format": "date-time"},
    "signatory": {"type": "string", "description": "the signatory counted ('unattributed' when unknown)"},
    "reason": {"type": "string"}}}
SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "EventsAccepted": {"type": "object", "required": ["accepted", "duplicates"],
                       "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}}},
    "Usage": {"type": "object", "required": ["signatory", "period", "metrics"],
              "properties": {"signatory": {"type": "string"}, "period": {"type": "string"},
                             "metrics": {"type": "object", "additionalProperties": _METRIC_USAGE}}},
    "Pool": {"type": "object", "required": ["pool", "period", "metrics"],
             "properties": {"pool": {"type": "string"}, "period": {"type": "string"},
                            "metrics": {"type": "object", "additionalProperties": {
                                "type": "object", "required": ["cap", "used", "by_signatory"],
                                "properties": {"cap": {"type": "integer"}, "used": {"type": "integer"},
                                               "by_signatory": {"type": "object",
                                                                "additionalProperties": {"type": "integer"}}}}}}},
    "SignatoryBody": _SIGNATORY_BODY,
    "Signatory": _SIGNATORY,
    "SignatoryList": {"type": "object", "required": ["signatories"],
                      "properties": {"signatories": {"type": "array",
                                                     "items": {"$ref": "#/components/schemas/Signatory"}}}},
    "ImportResult": {"type": "object", "required": ["created", "updated", "unchanged"],
                     "properties": {"created": {"type": "integer"}, "updated": {"type": "integer"},
                                    "unchanged": {"type": "integer"}}},
    "History": {"type": "object", "required": ["id", "changes"],
                "properties": {"id": {"type": "string"}, "changes": {"type": "array", "items": _CHANGE}}},
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Allocation": {"type": "object", "required": ["pool", "period", "policy", "projected", "signatories",
                                                  "explanation"], "properties": {
        "pool": {"type": "string"}, "period": {"type": "string"}, "policy": {"type": "string"},
        "projected": {"type": "boolean", "description": "true: nothing stored for this period, computed from today's registry"},
        "computed_at": {"type": "string"},
        "signatories": {"type": "object", "description": "signatory id (and 'unattributed') -> metric -> allotment",
                        "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}},
        "burst": {"type": "object", "additionalProperties": {"type": "integer"}},
        "borrowing": {"type": "boolean"},
        "explanation": {"type": "string", "description": "how the numbers came out, in English"},
        "explanation_fr": {"type": "string", "description": "the same, in French"},
        "inputs": {"type": "object", "description": "per metric: cap, members (weight, active fraction, demand)"}}},
    "SimulationRequest": {"type": "object", "required": ["policy", "cap", "signatories"], "properties": {
        "policy": {"enum": ["none", "equal", "weighted", "reserved", "max_min_fair"]},
        "cap": {"type": "integer", "minimum": 0}, "reserved_fraction": {"type": "number"},
        "signatories": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"}, "weight": {"type": "number"}, "demand": {"type": "integer"}}}}}},
    "Simulation": {"type": "object", "required": ["allotments"], "properties": {
        "allotments": {"type": "object", "additionalProperties": {"type": "integer"}},
        "burst": {"type": "integer"}}},
    "Check": _CHECK,
    "Decision": _DECISION,
    "Reservation": {"allOf": [{"$ref": "#/components/schemas/Decision"}, {
        "type": "object", "required": ["id", "amount", "expires_at"],
        "properties": {"id": {"type": "string"}, "amount": {"type": "integer"},
                       "dataset": {"type": ["string", "null"]},
                       "expires_at": {"type": "string", "format": "date-time"}}}]},
    "ReservationRequest": {"type": "object", "required": ["signatory", "metric", "amount"], "properties": {
        "signatory": {"type": "string"}, "metric": {"enum": list(METRICS)}, "amount": {"type": "integer", "minimum": 1},
        "dataset": {"type": "string"}, "ttl_s": {"type": "integer", "minimum": 1, "default": 900}},
        "additionalProperties": False},
    "Settled": {"type": "object", "required": ["id", "status", "metric", "signatory", "reserved", "committed"],
                "properties": {"id": {"type": "string"}, "status": {"enum": ["committed", "released"]},
                               "metric": {"type": "string"}, "signatory": {"type": "string"},
                               "reserved": {"type": "integer"}, "committed": {"type": "integer"},
                               "dataset": {"type": ["string", "null"]}}},
    "Readiness": {"type": "object", "required": ["status", "checks"], "properties": {
        "status": {"enum": ["ready", "unavailable"]},
        "checks": {"type": "object", "required": ["redis"],
                   "properties": {"redis": {"type": "boolean"}, "clickhouse": {"type": "boolean"}}}}},
}
_PERIOD = {"name": "period", "in": "query", "required": False,
           "description": "YYYY-MM (a month) or YYYY-MM-DD (a day) in the pool's time zone; default the current month",
           "schema": {"type": "string"}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
       "description": "a SIREN (9 digits, Luhn) or a slug [a-z0-9-]{1,64} with a letter"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: str | None = None, media: str = "application/json") -> dict:
    body: dict[str, Any] = {"description": description}
    if schema:
        body["content"] = {media: {"schema": _ref(schema)}}
    return body


def _errors(*codes: int) -> dict:
    names = {400: "invalid input, each problem named", 401: "no valid token", 403: "role or binding forbids it",
             404: "not found", 409: "conflict", 413: "body too large", 415: "unsupported content type",
             503: "a dependency is unavailable; see Retry-After"}
    return {str(c): _answer(names[c], "Error") for c in codes}


def _op(summary: str, role: str | None, answers: dict, **extra: Any) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": answers, **extra}
    if role is None:
        op["security"] = []
    else:
        op["x-meter-roles"] = [role, "admin"] if role != "admin" else ["admin"]
    return op


def _paths() -> dict[str, Any]:
    sig_ops = {
        "get": _op("Read a signatory", "reader", {"200": _answer("the signatory", "Signatory"),
                                                  **_errors(401, 403, 404)}, parameters=[_ID]),
        "put": _op("Create or replace a signatory", "admin", {
            "200": _answer("updated", "Signatory"), "201": _answer("created", "Signatory"),
            **_errors(400, 401, 403, 409, 503)}, parameters=[_ID],
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("SignatoryBody")}}}),
        "delete": _op("Mark a signatory as left today (history kept)", "admin", {
            "200": _answer("the signatory, with left_at", "Signatory"), **_errors(401, 403, 404, 503)},
            parameters=[_ID]),
    }
    return {
        "/healthz": {"get": _op("Process is up", None, {"200": _answer("up", "Health")})},
        "/readyz": {"get": _op("Redis and ClickHouse reachable", None, {
            "200": _answer("ready", "Readiness"), "503": _answer("not ready: checks says which part", "Readiness")})},
        "/metrics": {"get": _op("Prometheus metrics", None, {"200": {"description": "text exposition format"}})},
        "/openapi.json": {"get": _op("This document", None, {"200": {"description": "OpenAPI 3.1"}})},
        "/v1/events": {"post": _op(
            "Ingest CloudEvents (one, a batch, JSON or NDJSON, optionally gzip)", "producer",
            {"202": _answer("accepted: accepted + duplicates = events received", "EventsAccepted"),
             **_errors(400, 401, 403, 413, 415, 503)},
            requestBody={"required": True, "content": {t: {} for t in (
                "application/cloudevents+json", "application/cloudevents-batch+json", "application/json",
                "application/x-ndjson")}})},
        "/v1/check": {"post": _op(
            "Allow or deny (and count) one request, or a batch answered in the same order", "gateway",
            {"200": {"description": "the decision(s); header X-Meter-Degraded when Redis could not decide",
                     "content": {"application/json": {"schema": {"oneOf": [
                         _ref("Decision"), {"type": "array", "items": _ref("Decision")}]}}}},
             **_errors(400, 401, 403, 409, 413)},
            requestBody={"required": True, "content": {"application/json": {"schema": {"oneOf": [
                _ref("Check"), {"type": "array", "items": _ref("Check")}]}}}})},
        "/v1/authz": {"get": _op(
            "Gateway hook (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz); empty bodies", "gateway",
            {"200": {"description": "allowed"}, "400": {"description": "deny_status is not 403 or 429"},
             "401": {"description": "no valid token"}, "403": {"description": "denied (deny_status=403) or wrong role"},
             "429": {"description": "denied; Retry-After, RateLimit and RateLimit-Policy set"},
             "503": {"description": "no decision possible"}},
            parameters=[{"name": "deny_status", "in": "query", "required": False,
                         "schema": {"enum": ["403", "429"], "default": "429"}}])},
        "/v1/authz/{original}": {m: _op(
            "Gateway hook for Envoy's HTTP ext_authz: the client's method and path under the prefix", "gateway",
            {"200": {"description": "allowed"}, "401": {"description": "no valid token"},
             "403": {"description": "wrong role"}, "429": {"description": "denied; Retry-After set"},
             "503": {"description": "no decision possible"}},
            parameters=[{"name": "original", "in": "path", "required": True, "schema": {"type": "string"}}])
            for m in ("get", "post", "put", "patch", "delete", "options")},
        "/v1/reservations": {"post": _op("Hold capacity for a write of known size", "gateway", {
            "201": _answer("held", "Reservation"), "409": _answer("denied: the same body as a denied check", "Decision"),
            **_errors(400, 401, 403, 503)},
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("ReservationRequest")}}})},
        "/v1/reservations/{id}/commit": {"post": _op("Turn a reservation into usage (the actual amount)", "gateway", {
            "200": _answer("committed", "Settled"), **_errors(400, 401, 403, 404, 503)},
            parameters=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer", "minimum": 0}}}}}})},
        "/v1/reservations/{id}": {"delete": _op("Release a reservation", "gateway", {
            "200": _answer("released", "Settled"), **_errors(401, 403, 404, 503)},
            parameters=[{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/v1/allocations": {"get": _op("The allotments of a period, and why", "reader", {
            "200": _answer("stored, or a projection for a period with none stored", "Allocation"),
            **_errors(400, 401, 403, 409, 503)}, parameters=[_PERIOD])},
        "/v1/allocations/recompute": {"post": _op("Compute and store the current (or a future) period's allotments",
                                                  "admin", {
            "200": _answer("the stored allocation", "Allocation"), **_errors(400, 401, 403, 409, 503)},
            requestBody={"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"period": {"type": "string"}}}}}})},
        "/v1/allocations/simulate": {"post": _op("Try a policy on given signatories before adopting it", "admin", {
            "200": _answer("the allotments", "Simulation"), **_errors(400, 401, 403)},
            requestBody={"required": True, "content": {"application/json": {"schema": _ref("SimulationRequest")}}})},
        "/v1/usage": {"get": _op("A signatory's usage in a period", "reader", {
            "200": _answer("usage per metric", "Usage"), **_errors(400, 401, 403, 404, 503)}, parameters=[
            {"name": "signatory", "in": "query", "required": False, "schema": {"type": "string"}}, _PERIOD])},
        "/v1/pool": {"get": _op("The pool's usage in a period, per signatory", "reader", {
            "200": _answer("pool usage per metric", "Pool"), **_errors(400, 401, 403, 503)}, parameters=[_PERIOD])},
        "/v1/signatories": {"get": _op("List signatories", "reader", {
            "200": _answer("every signatory, left ones included", "SignatoryList"), **_errors(401, 403)})},
        "/v1/signatories/import": {"post": _op("Create or update signatories from CSV", "admin", {
            "200": _answer("counts", "ImportResult"), **_errors(400, 401, 403, 409, 415, 503)},
            requestBody={"required": True, "content": {"text/csv": {}}})},
        "/v1/signatories/{id}": sig_ops,
        "/v1/signatories/{id}/history": {"get": _op("Every change to a signatory, with who made it", "reader", {
            "200": _answer("changes, oldest first", "History"), **_errors(401, 403, 404, 503)}, parameters=[_ID])},
    }


@cache
def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "meter", "version": __version__,
                 "description": "Quota accounting and metering for a shared open-data portal subscription."},
        "components": {"schemas": {**SCHEMAS, **_REPORT_SCHEMAS}, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "meterToken": {"type": "apiKey", "in": "header", "name": "X-Meter-Token"}}},
        "security": [{"bearer": []}, {"meterToken": []}],
        "paths": {**_paths(), **_report_paths()},
    }


# --- reports and alerts (DESIGN §8), kept apart until the spec is generated from the models ---
# Query parameters and bodies come from the pydantic models in meter/reports/requests.py.

def _query_params(model: Any) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    return [{"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop}
            for name, prop in schema["properties"].items()]


def _report_schemas() -> dict[str, Any]:
    from meter.reports.requests import SendBody

    status = {"type": "object", "required": ["signatory", "status", "recipients"], "properties": {
        "signatory": {"type": "string"}, "status": {"enum": ["sent", "pending", "failed", "no_recipient"]},
        "recipients": {"type": "array", "items": {"type": "string"}}, "sent_at": {"type": ["string", "null"]},
        "message_id": {"type": "string"}, "error": {"type": ["string", "null"]}}}
    alert = {"type": "object", "required": ["id", "type", "scope", "signatory", "metric", "period", "used", "limit",
                                            "at", "delivered"], "properties": {
        "id": {"type": "string"}, "type": {"enum": ["threshold", "forecast"]}, "scope": {"enum": ["signatory", "pool"]},
        "signatory": {"type": ["string", "null"]}, "metric": {"type": "string"}, "period": {"type": "string"},
        "threshold": {"type": "integer"}, "used": {"type": "integer"}, "limit": {"type": "integer"},
        "at": {"type": "string"}, "exhaustion_date": {"type": "string"},
        "delivered": {"type": "object", "required": ["email", "webhook"], "properties": {
            "email": {"type": "string"}, "webhook": {"type": "string"}}}}}
    return {
        "ReportStatus": status,
        "ReportList": {"type": "object", "required": ["pool", "period", "reports"], "properties": {
            "pool": {"type": "string"}, "period": {"type": "string"},
            "reports": {"type": "array", "items": _ref("ReportStatus")}}},
        "SendRequest": SendBody.model_json_schema(),
        "SendResult": {"type": "object", "required": ["queued", "skipped"], "properties": {
            "queued": {"type": "integer", "minimum": 0}, "skipped": {"type": "integer", "minimum": 0}}},
        "Alert": alert,
        "AlertList": {"type": "object", "required": ["alerts"], "properties": {
            "alerts": {"type": "array", "items": _ref("Alert")}}},
    }


_REPORT_SCHEMAS = _report_schemas()


def _report_paths() -> dict[str, Any]:
    from meter.reports.requests import MONTH_PATTERN, AlertsQuery, ReportQuery

    month = {"name": "month", "in": "path", "required": True, "schema": {"type": "string", "pattern": MONTH_PATTERN},
             "description": "YYYY-MM, in the pool's time zone"}
    report_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "a signatory's id, or pool for the consolidated report"}
    formats: dict[str, Any] = {"text/html": {}, "text/plain": {}, "text/csv": {}, "application/pdf": {}, "application/json": {}}
    return {
        "/v1/reports/{month}": {"get": _op("Each report of a month and whether it was sent", "reader", {
            "200": _answer("one entry per signatory active in the month, and the pool's", "ReportList"),
            **_errors(400, 401, 403, 503)}, parameters=[month])},
        "/v1/reports/{month}/{id}": {"get": _op("A month's report (the month in progress: provisional)", "reader", {
            "200": {"description": "the report in the format asked", "content": formats},
            **_errors(400, 401, 403, 404, 503)}, parameters=[month, report_id, *_query_params(ReportQuery)])},
        "/v1/reports/{month}/send": {"post": _op("Send a finished month's reports (each once unless resend)",
                                                 "admin", {
            "202": _answer("queued for sending", "SendResult"), **_errors(400, 401, 403, 404, 409, 503)},
            parameters=[month],
            requestBody={"required": False, "content": {"application/json": {"schema": _ref("SendRequest")}}})},
        "/v1/alerts": {"get": _op("Quota alerts fired in a period", "reader", {
            "200": _answer("alerts, oldest first", "AlertList"), **_errors(400, 401, 403)},
            parameters=_query_params(AlertsQuery))},
    }
