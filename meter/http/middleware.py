"""The middleware: token checks and error rendering (one table from error type to status)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from meter.contract.answers import Error, ErrorInfo, MoreProblems, Problem
from meter.core import errors
from meter.core.problems import MAX_MESSAGE, bounded, clip
from meter.http import appkeys
from meter.http.auth import secret_from
from meter.ledger.client import REDIS_AWAY

log = logging.getLogger("meter.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS: dict[type[errors.MeterError], int] = {
    errors.InvalidRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.RequestTimeout: 408,
    errors.Gone: 410,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.Unavailable: 503,
}
CLIENT_CLOSED = 499  # nginx's status for "the client closed the request", in the access log only
_AIOHTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def json_response(body: BaseModel | Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """An answer model (``meter.contract.answers``) as JSON, the fields it may leave out left out
    when unset; plain JSON values only where a model per item would cost too much (decisions)."""
    data = body.model_dump_json(exclude_unset=True).encode() if isinstance(body, BaseModel) else orjson.dumps(body)
    return web.Response(body=data, status=status, content_type="application/json", headers=headers)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; malformed JSON is a 400 that says where."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidRequest("the body is not valid JSON", [{"field": "body", "reason": str(exc)}]) from None


def error_body(kind: str, message: str, details: list[dict[str, Any]] | None = None, omitted: int = 0) -> Error:
    """The error answer, bounded whatever the input: at most 100 problems, texts clipped."""
    message = clip(message, MAX_MESSAGE)
    if details is None:
        return Error(error=ErrorInfo(type=kind, message=message))
    # constructed, not validated: an error answer must never fail in its turn
    items = [MoreProblems.model_construct(**d) if "more" in d else Problem.model_construct(**d)
             for d in bounded(details, omitted)]
    return Error(error=ErrorInfo(type=kind, message=message, details=items))


def status_of(exc: errors.MeterError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def render(exc: errors.MeterError) -> web.Response:
    status = status_of(exc)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, errors.Unavailable) else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="meter"'}
    return json_response(error_body(exc.type, exc.message, exc.details, exc.omitted), status, headers)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token check, then the handler; every error rendered in the contract's shape.

    One middleware, not two: each layer costs a coroutine per request on the hot path.
    """
    try:
        roles = getattr(getattr(request.match_info, "handler", None), "roles", None)
        if roles is not None:
            principal = request.app[appkeys.TOKENS].resolve(secret_from(request.headers))
            principal.require(*roles)
            request[appkeys.PRINCIPAL] = principal
            if not request.content.is_eof():  # a body still on its way (no body: always at its end)
                await _receive(request)
        return await handler(request)
    except ConnectionResetError:
        # the client hung up mid-request: its doing, not ours (DESIGN §4)
        log.info("client hung up", extra={"method": request.method, "path": request.path})
        request.app[appkeys.TELEMETRY].http_aborted.inc()
        response = web.Response(status=CLIENT_CLOSED)  # nobody reads it; the access log does
        response.force_close()
        return response
    except errors.RequestTimeout as exc:
        return await _closing(request, render(exc))
    except errors.MeterError as exc:
        if status_of(exc) >= 500:
            request.app[appkeys.TELEMETRY].errors.labels("http", exc.type).inc()
        return render(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = _AIOHTTP_TYPES.get(exc.status, "http_error")
        limit = request.app[appkeys.SETTINGS].max_body_bytes
        message = exc.reason if exc.status != 413 else f"the body is larger than {limit} bytes"
        allow = _allow(request, exc)  # a 405 names the methods the route takes (RFC 9110)
        return json_response(error_body(kind, message), exc.status, {"Allow": allow} if allow else None)
    except REDIS_AWAY as exc:  # a read that went to Redis without ledger's wrapper: unavailable all the same
        unavailable = errors.LedgerUnavailable(f"Redis is unavailable: {exc.__class__.__name__}", retry_after_s=2)
        request.app[appkeys.TELEMETRY].errors.labels("http", unavailable.type).inc()
        return render(unavailable)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        request.app[appkeys.TELEMETRY].errors.labels("http", "internal").inc()
        return json_response(error_body("internal", "an internal error occurred; it has been logged"), 500)


async def _receive(request: web.Request) -> None:
    """The whole body within ``body_timeout_s``, else 408 and the connection closed: a slow body
    holds no connection for ever. The handler's ``read()`` then answers from what is kept."""
    settings = request.app[appkeys.SETTINGS]
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            await request.read()
    except TimeoutError:
        request.app[appkeys.TELEMETRY].body_timeouts.inc()
        raise errors.RequestTimeout(f"the body was not received in full within {settings.body_timeout_s:g} s") \
            from None


async def _closing(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response``, then close the connection at once: the rest of a slow body is not
    waited for (aiohttp would otherwise linger, reading it, before closing)."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # the transport flushes the answer, then closes
    return response


def _allow(request: web.Request, exc: web.HTTPException) -> str | None:
    """The ``Allow`` of a 405. aiohttp merges the methods of every resource the path matches; the
    most specific one (most fixed segments: ``/v1/signatories/import`` over
    ``/v1/signatories/{id}``, ``/v1/reports/{month}/send`` over ``/v1/reports/{month}/{id}``)
    is the one the spec describes, so its methods only."""
    matching = [r for r in request.app.router.resources() if _matches(r, request.path)]
    if not matching:
        return exc.headers.get("Allow")
    best = max(matching, key=lambda r: sum(1 for part in r.canonical.split("/") if part and "{" not in part))
    return ",".join(sorted({route.method for route in best}))


def _matches(resource: web.AbstractResource, path: str) -> bool:
    if isinstance(resource, web.PlainResource):
        return resource.canonical == path
    pattern = resource.get_info().get("pattern")
    return pattern is not None and pattern.fullmatch(path) is not None


def requires(*roles: str) -> Callable[[Handler], Handler]:
    """Mark a handler as needing a token of one of ``roles`` (admin may do everything)."""

    def mark(handler: Handler) -> Handler:
        handler.roles = roles  # type: ignore[attr-defined]
        return handler

    return mark

