"""POST /v1/events: decode the body, hand the batch to the ingestor, answer 202."""
from __future__ import annotations

from aiohttp import web

from meter.contract.answers import Error, EventsAccepted
from meter.contract.events import EVENT_BATCH, CloudEvent
from meter.http import appkeys
from meter.http.middleware import json_response, requires
from meter.http.operation import Answer, operation
from meter.ingest.body import decode_events


@operation("Ingest CloudEvents (one, a batch, JSON or NDJSON, optionally gzip)", {
    202: Answer("accepted: accepted + duplicates = events received", EventsAccepted),
    415: Answer("unsupported content type or encoding", Error),
    503: Answer("Redis unavailable or the stream is full; see Retry-After", Error, ("Retry-After",))},
    body={"application/cloudevents+json": CloudEvent,
          "application/cloudevents-batch+json": EVENT_BATCH,
          "application/json": CloudEvent | EVENT_BATCH, "application/x-ndjson": None})
@requires("producer")
async def post_events(request: web.Request) -> web.Response:
    settings = request.app[appkeys.SETTINGS]
    raw = await request.read()
    events = decode_events(request.content_type, request.headers.get("Content-Encoding", ""), raw,
                           settings.max_body_bytes)
    result = await request.app[appkeys.INGESTOR].ingest(events, request[appkeys.PRINCIPAL].signatory)
    return json_response(EventsAccepted(accepted=result.accepted, duplicates=result.duplicates), status=202)
