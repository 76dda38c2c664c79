"""POST /v1/events: decode the body, hand the batch to the ingestor, answer 202."""
from __future__ import annotations

from aiohttp import web

from meter.http import appkeys
from meter.http.middleware import json_response, requires
from meter.ingest.body import decode_events


@requires("producer")
async def post_events(request: web.Request) -> web.Response:
    settings = request.app[appkeys.SETTINGS]
    raw = await request.read()
    events = decode_events(request.content_type, request.headers.get("Content-Encoding", ""), raw,
                           settings.max_body_bytes)
    result = await request.app[appkeys.INGESTOR].ingest(events, request[appkeys.PRINCIPAL].signatory)
    return json_response({"accepted": result.accepted, "duplicates": result.duplicates}, status=202)
