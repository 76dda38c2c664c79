"""Reservations: POST /v1/reservations, POST /v1/reservations/{id}/commit, DELETE /v1/reservations/{id}."""
from __future__ import annotations

from aiohttp import web

from meter.contract.answers import Decision, Error, Reservation, Settled, decision_body
from meter.contract.checks import parse_commit, parse_reservation
from meter.contract.requests import CommitRequest, ReservationRequest
from meter.decision.reservations import new_id
from meter.http import appkeys
from meter.http.middleware import json_body, json_response, requires
from meter.http.operation import Answer, operation

RESERVATION_ID = {"type": "string", "description": "the id that POST /v1/reservations answered"}


@operation("Hold capacity for a write of known size", {
    201: Answer("held", Reservation), 409: Answer("denied: the same body as a denied check", Decision),
    503: Answer("Redis unavailable", Error, ("Retry-After",))}, body={"application/json": ReservationRequest})
@requires("gateway")
async def post_reservation(request: web.Request) -> web.Response:
    ask = parse_reservation(await json_body(request), new_id())
    request[appkeys.PRINCIPAL].require_signatory(ask.signatory)
    decision, expires_at = await request.app[appkeys.RESERVATIONS].hold(ask)
    if expires_at is None:
        return json_response(Decision.model_validate(decision_body(decision)), status=409)
    held = Reservation(**decision_body(decision), id=ask.reserve_id, amount=ask.amount, dataset=ask.dataset or None,
                       expires_at=expires_at)
    return json_response(held, status=201)


@operation("Turn a reservation into usage (the actual amount)", {
    200: Answer("committed", Settled), 404: Answer("no such reservation", Error),
    409: Answer("expired (reservation_expired), or more than held (reservation_exceeded); nothing committed",
                Error), 503: Answer("Redis unavailable", Error, ("Retry-After",))},
    body={"application/json": CommitRequest}, path={"id": RESERVATION_ID})
@requires("gateway")
async def commit_reservation(request: web.Request) -> web.Response:
    amount = parse_commit(await json_body(request))
    bound = request[appkeys.PRINCIPAL].signatory
    settled = await request.app[appkeys.RESERVATIONS].commit(request.match_info["id"], amount, bound)
    return json_response(Settled.model_validate(settled))


@operation("Release a reservation", {
    200: Answer("released", Settled), 404: Answer("no such reservation", Error),
    503: Answer("Redis unavailable", Error, ("Retry-After",))}, path={"id": RESERVATION_ID})
@requires("gateway")
async def delete_reservation(request: web.Request) -> web.Response:
    bound = request[appkeys.PRINCIPAL].signatory
    settled = await request.app[appkeys.RESERVATIONS].release(request.match_info["id"], bound)
    return json_response(Settled.model_validate(settled))
