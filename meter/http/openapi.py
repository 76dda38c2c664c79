"""The OpenAPI 3.1 description of the whole API, generated, served at /openapi.json.

Paths and methods come from the route table (``meter.http.routes.route_table``), roles from the
handlers' ``@requires``, request bodies, queries and answers from the contract's models
(``meter.contract``; answers in ``meter.contract.answers``), and the rest from each handler's
``@operation``. ``tests/test_openapi.py`` and Schemathesis keep it true.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from meter import __version__
from meter.contract.answers import Error
from meter.http.operation import Answer, Operation

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)(:[^}]*)?\}")
_COMMON = {400: "invalid input, each problem named (at most 100, then how many more)", 401: "no valid token",
           403: "role or binding forbids it", 413: "body too large",
           408: "the body was not received in full in time (the connection is closed)"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def schema_of(tp: Any, components: dict[str, Any], mode: JsonSchemaMode = "validation") -> dict[str, Any]:
    """The JSON Schema of a model or type (a request's, or an answer's in ``serialization`` mode);
    the models it names go to ``components``."""
    doc = TypeAdapter(tp).json_schema(ref_template=REF, mode=mode)
    components.update(doc.pop("$defs", {}))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        components[tp.__name__] = doc
        return _ref(tp.__name__)
    return doc


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is text or absent, never JSON null: drop the null of an optional field."""
    branches = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    if len(branches) == 1:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return {**branches[0], **rest}
    return schema


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    doc = model.model_json_schema()
    required = set(doc.get("required", ()))
    params = []
    for name, schema in doc["properties"].items():
        schema = {k: v for k, v in _not_null(schema).items() if k != "title"}
        description = schema.pop("description", "")
        param = {"name": name, "in": "query", "required": name in required, "schema": schema}
        params.append({**param, "description": description} if description else param)
    return params


def _answer(answer: Answer, components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.schema is not None:
        out["content"] = {"application/json": {"schema": schema_of(answer.schema, components, mode="serialization")}}
    elif answer.media:
        out["content"] = {media: {} for media in answer.media}
    if answer.headers:
        out["headers"] = {h: {"schema": {"type": "string"}} for h in answer.headers}
    return out


def _answers(op: Operation, roles: tuple[str, ...] | None, components: dict[str, Any]) -> dict[str, Any]:
    common: set[int] = set()
    if op.body is not None or op.query is not None:
        common.add(400)
    if op.body is not None:
        common |= {408, 413}
    if roles:
        common |= {401, 403}
    answers = {s: Answer(_COMMON[s], Error) for s in common}
    answers.update(op.answers)
    return {str(status): _answer(answers[status], components) for status in sorted(answers)}


def _operation(handler: Any, path: str, components: dict[str, Any]) -> dict[str, Any]:
    op: Operation = handler.operation
    roles = getattr(handler, "roles", None) or getattr(handler, "own_roles", None)
    out: dict[str, Any] = {"summary": op.summary, "responses": _answers(op, roles, components)}
    if op.description:
        out["description"] = op.description
    params = [{"name": name, "in": "path", "required": True, "schema": op.path.get(name, {"type": "string"})}
              for name in _PARAM.findall(path) for name in [name[0]]]
    if op.query is not None:
        params += _query(op.query)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required, "content": {
            media: ({"schema": schema_of(tp, components)} if tp is not None else {})
            for media, tp in op.body.items()}}
    if roles is None:
        out["security"] = []
    else:
        out["x-meter-roles"] = sorted({*roles, "admin"})
    return out


def _headless(get: dict[str, Any]) -> dict[str, Any]:
    """The HEAD twin of a GET: the same statuses and headers, no body."""
    answers = {status: {k: v for k, v in answer.items() if k != "content"}
               for status, answer in get["responses"].items()}
    return {**get, "summary": f"{get['summary']} (headers only)", "responses": answers}


def _paths(components: dict[str, Any], routes: Sequence[web.RouteDef]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        path = _PARAM.sub(r"{\1}", route.path)
        op = paths.setdefault(path, {})[route.method.lower()] = _operation(route.handler, path, components)
        if route.method == "GET" and route.kwargs.get("allow_head", True):  # aiohttp serves HEAD too
            paths[path]["head"] = _headless(op)
    return paths


def spec(routes: Sequence[web.RouteDef]) -> dict[str, Any]:
    """The document of these routes (``routes.openapi_document``: the API's, built once)."""
    components: dict[str, Any] = {}
    paths = _paths(components, routes)
    return {
        "openapi": "3.1.0",
        "info": {"title": "meter", "version": __version__,
                 "description": "Quota accounting and metering for a shared open-data portal subscription."},
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "meterToken": {"type": "apiKey", "in": "header", "name": "X-Meter-Token"}}},
        "security": [{"bearer": []}, {"meterToken": []}],
        "paths": paths,
    }
