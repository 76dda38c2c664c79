"""The OpenAPI description stays true: same routes as the app, real answers match its schemas.

Real answers are checked against a *closed* copy of each schema (every object that lists its
properties refuses any other), so a field added to an answer and not to the spec fails here.
"""
from __future__ import annotations

import copy
import gzip
import io
import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from jsonschema import Draft202012Validator

from meter.http.routes import openapi_document as spec
from tests.conftest import auth, wait_written

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
REF_PREFIX = "#/components/schemas/"
NOW = "2026-04-20T10:00:00Z"  # two hours before the fixture clock's instant


# the spec, read as a test reads it

def operations() -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec()["paths"].items() for method in item if method in HTTP_METHODS}


def inline(node: Any) -> Any:
    """``node`` with every ``$ref`` replaced by a copy of the component it names."""
    if isinstance(node, list):
        return [inline(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith(REF_PREFIX), f"unexpected $ref {ref!r}"
        name = ref.removeprefix(REF_PREFIX)
        assert name in spec()["components"]["schemas"], f"$ref to a missing schema {name!r}"
        return inline(copy.deepcopy(spec()["components"]["schemas"][name]))
    return {key: inline(value) for key, value in node.items()}


def closed(node: Any, in_all_of: bool = False) -> Any:
    """``node`` where each object schema listing properties admits no others (``allOf`` parts
    stay open: the schema holding the ``allOf`` is the one that closes over all of them)."""
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "allOf":
            out[key] = [closed(part, in_all_of=True) for part in value]
        elif key == "properties":
            out[key] = {name: closed(schema) for name, schema in value.items()}
        else:
            out[key] = closed(value)
    lists_properties = "properties" in node or "allOf" in node
    if lists_properties and not in_all_of and "additionalProperties" not in node:
        out.setdefault("unevaluatedProperties", False)
    return out


def answer_spec(path: str, method: str, status: int) -> dict[str, Any]:
    responses = spec()["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which the spec does not list"
    return responses[str(status)]


async def check(resp: ClientResponse, path: str, method: str) -> Any:
    """The answer's JSON body, once it matches what the spec says of this status."""
    declared = answer_spec(path, method, resp.status)
    body = await resp.read()
    content = declared.get("content")
    if not content or not any(media.get("schema") for media in content.values()):
        return None
    assert resp.content_type in content, f"{resp.content_type} is not in {sorted(content)}"
    doc = json.loads(body)
    schema = closed(inline(content[resp.content_type]["schema"]))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(doc)]
    assert not problems, f"{method.upper()} {path} {resp.status} does not match the spec:\n" + "\n".join(problems)
    return doc


def event(i: int, type_: str, data: dict, subject: str = "loiret") -> dict:
    return {"specversion": "1.0", "id": f"oa-{i}", "source": "test-openapi", "type": type_, "time": NOW,
            "subject": subject, "data": data}


FIVE_TYPES = [
    ("api.call", {"dataset": "d1", "count": 3}),
    ("update.bytes", {"dataset": "d1", "bytes": 2048, "kind": "data"}),
    ("dataset.records", {"dataset": "d1", "records": 120, "raw_bytes": 4096}),
    ("content.bytes", {"object": "logo.png", "bytes": 900}),
    ("dataset.deleted", {"dataset": "d2"}),
]
LOIRET = {"name": "Département du Loiret", "kind": "departement", "population": 680434,
          "hosts": ["loiret.data.example.org"], "emails": ["sig@loiret.example.org"], "joined_at": "2020-01-01"}


# (a) the spec and the app have the same routes

def test_the_spec_is_valid_json_schema_everywhere():
    for _name, schema in spec()["components"]["schemas"].items():
        Draft202012Validator.check_schema(inline(schema))
    for path, method in operations():
        for _status, declared in spec()["paths"][path][method]["responses"].items():
            for media in declared.get("content", {}).values():
                if "schema" in media:
                    Draft202012Validator.check_schema(closed(inline(media["schema"])))


@pytest.mark.parametrize("name, doc, valid", [
    ("EventsAccepted", {"accepted": 1, "duplicates": 0}, True),
    ("EventsAccepted", {"accepted": 1, "duplicates": 0, "rejected": 0}, False),
    ("Signatory", {"id": "x", "active": True, "name": "X", "kind": "other", "population": None,
                   "publication": "direct", "hosts": [], "emails": [], "joined_at": "2026-01-01",
                   "left_at": None, "weight": 1}, True),
    ("Signatory", {"id": "x", "active": True, "name": "X", "kind": "other", "population": None,
                   "publication": "direct", "hosts": [], "emails": [], "joined_at": "2026-01-01",
                   "left_at": None, "weight": 1, "colour": "blue"}, False),
    ("Error", {"error": {"type": "t", "message": "m", "details": [{"field": "f", "reason": "r", "why": 1}]}},
     False),
])
def test_the_closed_check_refuses_undeclared_fields(name, doc, valid):
    schema = closed(inline({"$ref": REF_PREFIX + name}))
    assert Draft202012Validator(schema).is_valid(doc) is valid


async def test_every_route_is_in_the_spec_and_nothing_else(client):
    routes = {(route.resource.canonical, route.method.lower()) for route in client.app.router.routes()}
    assert routes - operations() == set(), "routes missing from meter/http/openapi.py"
    assert operations() - routes == set(), "operations in the spec that the app does not serve"


async def test_roles_in_the_spec_are_the_handlers_roles(client):
    for route in client.app.router.routes():
        op = spec()["paths"].get(route.resource.canonical, {}).get(route.method.lower())
        if op is None:  # HEAD, or a route missing from the spec (the test above names it)
            continue
        # a handler checks its token itself (own_roles) when its errors must have empty bodies
        roles = getattr(route.handler, "roles", None) or getattr(route.handler, "own_roles", None)
        where = f"{route.method} {route.resource.canonical}"
        if roles is None:
            assert op.get("security") == [], f"{where} needs no token; the spec must say security: []"
        else:
            assert "security" not in op, f"{where} needs a token; the spec must not waive it"
            assert set(op["x-meter-roles"]) == {*roles, "admin"}, where


# (b) real answers match the schemas the spec names

async def test_events_answers_match(client):
    batch = [event(i, t, d) for i, (t, d) in enumerate(FIVE_TYPES)]
    headers = {"Content-Type": "application/cloudevents-batch+json", **auth("producer")}
    doc = await check(await client.post("/v1/events", json=batch, headers=headers), "/v1/events", "post")
    assert doc == {"accepted": 5, "duplicates": 0}
    one = {"Content-Type": "application/cloudevents+json", **auth("producer")}
    doc = await check(await client.post("/v1/events", data=json.dumps(batch[0]), headers=one), "/v1/events", "post")
    assert doc == {"accepted": 0, "duplicates": 1}
    ndjson = gzip.compress("\n".join(json.dumps(event(10 + i, "api.call", {})) for i in range(3)).encode())
    resp = await client.post("/v1/events", data=ndjson, headers={
        "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip", **auth("producer")})
    assert (await check(resp, "/v1/events", "post"))["accepted"] == 3


@pytest.mark.parametrize("body, headers, status, kind", [
    (json.dumps([event(0, "api.call", {}), event(1, "api.calls", {})]), {"Content-Type": "application/json"},
     400, "invalid_events"),
    ("[]", {"Content-Type": "application/json"}, 400, "invalid_events"),
    ("{", {"Content-Type": "application/json"}, 400, "invalid_request"),
    ("{}", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ("x" * (9 * 1024 * 1024), {"Content-Type": "application/json"}, 413, "payload_too_large"),
])
async def test_events_errors_match(client, body, headers, status, kind):
    resp = await client.post("/v1/events", data=io.BytesIO(body.encode()), headers={**headers, **auth("producer")})
    assert resp.status == status
    assert (await check(resp, "/v1/events", "post"))["error"]["type"] == kind


async def test_auth_errors_match(client):
    resp = await client.post("/v1/events", json=[], headers={"Authorization": "Bearer wrong-token"})
    assert resp.status == 401 and (await check(resp, "/v1/events", "post"))["error"]["type"] == "unauthorized"
    resp = await client.post("/v1/events", json=[], headers=auth("reader"))
    assert resp.status == 403 and (await check(resp, "/v1/events", "post"))["error"]["type"] == "forbidden"
    resp = await client.put("/v1/signatories/loiret", json=LOIRET, headers=auth("producer"))
    assert resp.status == 403
    await check(resp, "/v1/signatories/{id}", "put")


async def test_reading_answers_match(client):
    resp = await client.put("/v1/signatories/loiret", json=LOIRET, headers=auth("admin"))
    await check(resp, "/v1/signatories/{id}", "put")
    batch = [event(i, t, d) for i, (t, d) in enumerate(FIVE_TYPES)]
    batch.append(event(9, "api.call", {}, subject="nobody-we-know"))
    resp = await client.post("/v1/events", json=batch, headers=auth("producer"))
    assert (await check(resp, "/v1/events", "post"))["accepted"] == 6
    await wait_written(client)
    for period in ("2026-04", "2026-04-20", None):
        params = {"signatory": "loiret", **({"period": period} if period else {})}
        doc = await check(await client.get("/v1/usage", params=params, headers=auth("reader")), "/v1/usage", "get")
        assert doc["metrics"]["api_calls"]["used"] == 3
        params = {"period": period} if period else {}
        doc = await check(await client.get("/v1/pool", params=params, headers=auth("reader")), "/v1/pool", "get")
        assert doc["metrics"]["api_calls"]["by_signatory"] == {"loiret": 3, "unattributed": 1}
    resp = await client.get("/v1/usage", params={"signatory": "unattributed"}, headers=auth("reader"))
    assert (await check(resp, "/v1/usage", "get"))["metrics"]["api_calls"]["used"] == 1


@pytest.mark.parametrize("path, params, status, kind", [
    ("/v1/usage", {}, 400, "invalid_request"),
    ("/v1/usage", {"signatory": "loiret", "period": "2026-13"}, 400, "invalid_request"),
    ("/v1/usage", {"signatory": "nobody"}, 404, "not_found"),
    ("/v1/pool", {"period": "April"}, 400, "invalid_request"),
])
async def test_reading_errors_match(client, path, params, status, kind):
    resp = await client.get(path, params=params, headers=auth("admin"))
    assert resp.status == status
    assert (await check(resp, path, "get"))["error"]["type"] == kind


async def test_signatory_answers_match(client):
    one = "/v1/signatories/{id}"
    resp = await client.put("/v1/signatories/loiret", json=LOIRET, headers=auth("admin"))
    assert resp.status == 201
    created = await check(resp, one, "put")
    resp = await client.put("/v1/signatories/loiret", json={**created, "weight": 2}, headers=auth("admin"))
    assert resp.status == 200 and (await check(resp, one, "put"))["weight"] == 2
    assert (await check(await client.get("/v1/signatories/loiret", headers=auth("reader")), one, "get"))["active"]
    csv = b"id,name,kind,hosts\nchartres,Ville de Chartres,commune,\n234500023,Region,region,region.example.org\n"
    resp = await client.post("/v1/signatories/import", data=csv,
                             headers={"Content-Type": "text/csv", **auth("admin")})
    assert await check(resp, "/v1/signatories/import", "post") == {"created": 2, "updated": 0, "unchanged": 0}
    doc = await check(await client.get("/v1/signatories", headers=auth("reader")), "/v1/signatories", "get")
    assert [s["id"] for s in doc["signatories"]] == ["234500023", "chartres", "loiret"]
    resp = await client.delete("/v1/signatories/chartres", headers=auth("admin"))
    assert (await check(resp, one, "delete"))["left_at"] == "2026-04-20"
    await wait_written(client)
    resp = await client.get("/v1/signatories/loiret/history", headers=auth("reader"))
    doc = await check(resp, "/v1/signatories/{id}/history", "get")
    assert [c["action"] for c in doc["changes"]] == ["put", "put"]


@pytest.mark.parametrize("method, path, body, headers, status, kind", [
    ("put", "/v1/signatories/loiret", {"name": "", "kind": "county", "weight": "2"}, {}, 400, "invalid_request"),
    ("put", "/v1/signatories/123456789", LOIRET, {}, 400, "invalid_request"),
    ("put", "/v1/signatories/chartres", {**LOIRET, "name": "Chartres", "kind": "commune"}, {}, 409, "conflict"),
    ("get", "/v1/signatories/nobody", None, {}, 404, "not_found"),
    ("delete", "/v1/signatories/nobody", None, {}, 404, "not_found"),
    ("get", "/v1/signatories/nobody/history", None, {}, 404, "not_found"),
    ("post", "/v1/signatories/import", "id,name\n", {"Content-Type": "text/csv"}, 400, "invalid_request"),
    ("post", "/v1/signatories/import", "{}", {"Content-Type": "application/json"}, 415, "unsupported_media_type"),
])
async def test_signatory_errors_match(client, method, path, body, headers, status, kind):
    assert (await client.put("/v1/signatories/loiret", json=LOIRET, headers=auth("admin"))).status == 201
    data = json.dumps(body) if isinstance(body, dict) else body
    resp = await client.request(method, path, data=data, headers={**headers, **auth("admin")})
    assert resp.status == status, await resp.text()
    template = path.replace("/loiret", "/{id}").replace("/123456789", "/{id}").replace("/chartres", "/{id}")
    template = template.replace("/nobody", "/{id}")
    assert (await check(resp, template, method))["error"]["type"] == kind


async def test_operations_answers_match(client):
    assert (await check(await client.get("/healthz"), "/healthz", "get")) == {"status": "ok"}
    doc = await check(await client.get("/readyz"), "/readyz", "get")
    assert doc["status"] == "ready"
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    answer_spec("/metrics", "get", resp.status)


# (c) the served document is the spec

async def test_openapi_json_is_the_spec(client):
    resp = await client.get("/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert await resp.json() == spec()
    assert spec()["openapi"].startswith("3.1")
