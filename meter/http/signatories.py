"""/v1/signatories: read, create or replace, mark as left, import from CSV, and the history.

Reads need a reader token, and a token bound to a signatory sees only that one; writes need an
admin token. The token's label is recorded as the author of each change.
"""
from __future__ import annotations

from aiohttp import web

from meter.contract.answers import Error, History, ImportResult, Signatory, SignatoryList
from meter.core.errors import Forbidden, UnsupportedMediaType
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.http.operation import Answer, operation
from meter.registry.csvimport import parse_csv_bytes
from meter.registry.model import SignatoryBody
from meter.registry.service import Registry

CSV = "text/csv"
# a SIREN (9 digits; its Luhn check digit is not stated here) or a slug with a letter
SIGNATORY_ID = {"type": "string", "maxLength": 64, "pattern": "^([0-9]{9}|[a-z0-9-]*[a-z][a-z0-9-]*)$"}
_PATH = {"id": SIGNATORY_ID}
_NOT_FOUND = Answer("no such signatory", Error)
_UNAVAILABLE = Answer("Redis is unavailable", Error, ("Retry-After",))


def _registry(request: web.Request) -> Registry:
    registry: Registry = request.app[appkeys.REGISTRY]
    return registry


def _allowed_id(request: web.Request) -> str:
    """The path's id, once the token's binding (if any) allows it."""
    sid = request.match_info["id"]
    request[appkeys.PRINCIPAL].require_signatory(sid)
    return sid


async def _changed(request: web.Request) -> None:
    """Signatories joined, left or changed weight: the allotments in force follow at once."""
    allocator = request.app.get(appkeys.ALLOCATOR)
    if allocator is not None:
        await allocator.ensure_current("registry")


@operation("List signatories", {200: Answer("every signatory, left ones included", SignatoryList)})
@requires("reader")
async def list_signatories(request: web.Request) -> web.Response:
    records = await _registry(request).list()
    bound = request[appkeys.PRINCIPAL].signatory
    if bound is not None:
        records = [r for r in records if r["id"] == bound]
    return json_response(SignatoryList.model_validate({"signatories": records}))


@operation("Read a signatory", {200: Answer("the signatory", Signatory), 404: _NOT_FOUND}, path=_PATH)
@requires("reader")
async def get_signatory(request: web.Request) -> web.Response:
    return json_response(Signatory.model_validate(await _registry(request).get(_allowed_id(request))))


@operation("Create or replace a signatory", {
    200: Answer("updated", Signatory), 201: Answer("created", Signatory),
    409: Answer("a host that another signatory holds", Error), 503: _UNAVAILABLE},
    body={"application/json": SignatoryBody}, path=_PATH, description=(
        "Rules the schema cannot state answer 400: a SIREN's check digit (Luhn), the id "
        "'unattributed' (reserved), left_at after joined_at, and the text of name, hosts and emails."))
@requires("admin")
async def put_signatory(request: web.Request) -> web.Response:
    sid = _allowed_id(request)
    record, created = await _registry(request).put(sid, await json_body(request), request[appkeys.PRINCIPAL].label)
    await _changed(request)
    return json_response(Signatory.model_validate(record), status=201 if created else 200)


@operation("Mark a signatory as left today (history kept)", {
    200: Answer("the signatory, with left_at", Signatory), 404: _NOT_FOUND, 503: _UNAVAILABLE}, path=_PATH)
@requires("admin")
async def delete_signatory(request: web.Request) -> web.Response:
    sid = _allowed_id(request)
    record = await _registry(request).delete(sid, request[appkeys.PRINCIPAL].label)
    await _changed(request)
    return json_response(Signatory.model_validate(record))


@operation("Create or update signatories from CSV", {
    200: Answer("counts", ImportResult), 409: Answer("a host that another signatory holds", Error),
    415: Answer("not text/csv", Error), 503: _UNAVAILABLE}, body={"text/csv": None}, description=(
        "A header line then one signatory a line; the columns are the signatory body's fields "
        "and id. Each bad cell answers 400 with its row and field: no schema states CSV."))
@requires("admin")
async def import_signatories(request: web.Request) -> web.Response:
    if request.content_type != CSV:
        raise UnsupportedMediaType(f"Content-Type {request.content_type or '(none)'!r} is not supported; use {CSV}")
    rows = parse_csv_bytes(await request.read())
    principal = request[appkeys.PRINCIPAL]
    if principal.signatory is not None and any(r.get("id") != principal.signatory for r in rows):
        raise Forbidden(f"this token is bound to signatory {principal.signatory!r}; the file names others")
    result = await _registry(request).import_rows(rows, principal.label)
    await _changed(request)
    return json_response(ImportResult.model_validate(result))


@operation("Every change to a signatory, with who made it", {
    200: Answer("changes, oldest first", History), 404: _NOT_FOUND, 503: _UNAVAILABLE}, path=_PATH)
@requires("reader")
async def get_history(request: web.Request) -> web.Response:
    sid = _allowed_id(request)
    return json_response(History.model_validate({"id": sid, "changes": await _registry(request).history(sid)}))
