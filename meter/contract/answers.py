"""The answers' JSON Schemas (responses only; every request is a model in ``meter.contract``).

``tests/test_openapi.py`` validates real answers against closed copies of these, so a field added
to an answer and not here fails a test.
"""
from __future__ import annotations

from typing import Any

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
_SIGNATORY = {"allOf": [{"$ref": "#/components/schemas/SignatoryFields"},
                        {"type": "object", "required": ["id", "active", *_SIGNATORY_BODY["properties"]],
                         "properties": {"id": {"type": "string"}, "active": {"type": "boolean"}}}]}
_CHANGE = {"type": "object", "required": ["at", "action", "changed_by", "record"], "properties": {
    "at": {"type": "string", "format": "date-time"}, "action": {"enum": ["put", "delete", "import"]},
    "changed_by": {"type": "string", "description": "the token's name (or 'cli')"},
    "record": {"allOf": [{"$ref": "#/components/schemas/SignatoryFields"},
                         {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}]}}}
_DECISION = {"type": "object", "required": ["allowed", "metric", "scope", "limit", "used", "remaining", "reset",
                                            "signatory"], "properties": {
    "allowed": {"type": "boolean"}, "metric": {"type": "string"},
    "scope": {"enum": ["pool", "signatory", "dataset"]},
    "limit": {"type": ["integer", "null"]}, "used": {"type": ["integer", "null"], "description": "null when degraded"},
    "remaining": {"type": ["integer", "null"]}, "reset": {"type": ["string", "null"], "format": "date-time"},
    "signatory": {"type": "string", "description": "the signatory counted ('unattributed' when unknown)"},
    "reason": {"type": "string"}}}
ANSWERS: dict[str, Any] = {
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
    "SignatoryFields": _SIGNATORY_BODY,
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
    "Simulation": {"type": "object", "required": ["allotments"], "properties": {
        "allotments": {"type": "object", "additionalProperties": {"type": "integer"}},
        "burst": {"type": "integer"}}},
    "Decision": _DECISION,
    "Decisions": {"oneOf": [{"$ref": "#/components/schemas/Decision"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/Decision"}}]},
    "Reservation": {"allOf": [{"$ref": "#/components/schemas/Decision"}, {
        "type": "object", "required": ["id", "amount", "expires_at"],
        "properties": {"id": {"type": "string"}, "amount": {"type": "integer"},
                       "dataset": {"type": ["string", "null"]},
                       "expires_at": {"type": "string", "format": "date-time"}}}]},
    "Settled": {"type": "object", "required": ["id", "status", "metric", "signatory", "reserved", "committed"],
                "properties": {"id": {"type": "string"}, "status": {"enum": ["committed", "released"]},
                               "metric": {"type": "string"}, "signatory": {"type": "string"},
                               "reserved": {"type": "integer"}, "committed": {"type": "integer"},
                               "dataset": {"type": ["string", "null"]}}},
    "Readiness": {"type": "object", "required": ["status", "checks"], "properties": {
        "status": {"enum": ["ready", "unavailable"]},
        "checks": {"type": "object", "required": ["redis"],
                   "properties": {"redis": {"type": "boolean"}, "clickhouse": {"type": "boolean"}}},
        "allotments": {"type": "object", "required": ["stale"], "description": "stale: the allotments in force "
                       "could not be recomputed (error says why); decisions go on with them",
                       "properties": {"stale": {"type": "boolean"}, "error": {"type": "string"}}}}},
}

# reports and alerts (DESIGN §8)
_REPORT_STATUS = {"type": "object", "required": ["signatory", "status", "recipients"], "properties": {
    "signatory": {"type": "string"}, "status": {"enum": ["sent", "pending", "failed", "no_recipient"]},
    "recipients": {"type": "array", "items": {"type": "string"}}, "sent_at": {"type": ["string", "null"]},
    "message_id": {"type": "string"}, "error": {"type": ["string", "null"]}}}
_ALERT = {"type": "object", "required": ["id", "type", "scope", "signatory", "metric", "period", "used", "limit",
                                         "at", "delivered"], "properties": {
    "id": {"type": "string"}, "type": {"enum": ["threshold", "forecast"]}, "scope": {"enum": ["signatory", "pool"]},
    "signatory": {"type": ["string", "null"]}, "metric": {"type": "string"}, "period": {"type": "string"},
    "threshold": {"type": "integer"}, "used": {"type": "integer"}, "limit": {"type": "integer"},
    "at": {"type": "string"}, "exhaustion_date": {"type": "string"},
    "delivered": {"type": "object", "required": ["email", "webhook"], "properties": {
        "email": {"type": "string"}, "webhook": {"type": "string"}}}}}
ANSWERS.update({
    "ReportList": {"type": "object", "required": ["pool", "period", "reports"], "properties": {
        "pool": {"type": "string"}, "period": {"type": "string"}, "reports": {"type": "array", "items": _REPORT_STATUS}}},
    "SendResult": {"type": "object", "required": ["queued", "skipped"], "properties": {
        "queued": {"type": "integer", "minimum": 0}, "skipped": {"type": "integer", "minimum": 0}}},
    "AlertList": {"type": "object", "required": ["alerts"], "properties": {
        "alerts": {"type": "array", "items": _ALERT}}},
})
