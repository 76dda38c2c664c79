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
    409: Answer("refused by what is stored, nothing accepted: a total past 2^53 - 1 (total_overflow), a "
                "bound producer's snapshot of another signatory's dataset or object (not_owner), one dataset "
                "or object more than the pool keeps (too_many_datasets, too_many_objects)", Error),
    413: Answer("the body, decompressed, is too large, or holds more events than a batch may", Error),
    415: Answer("unsupported content type or encoding", Error),
    503: Answer("Redis unavailable or the stream is full; see Retry-After", Error, ("Retry-After",))},
    body={"application/cloudevents+json": CloudEvent,
          "application/cloudevents-batch+json": EVENT_BATCH,
          "application/json": CloudEvent | EVENT_BATCH, "application/x-ndjson": None},
    description=("One rule no schema can state: an event's time may be at most METER_MAX_FUTURE_SKEW_S "
                 "(default 300) seconds after the service's clock; a later one is invalid (400, field time)."))
@requires("producer")
async def post_events(request: web.Request) -> web.Response:
    settings = request.app[appkeys.SETTINGS]
    raw = await request.read()
    events = decode_events(request.content_type, request.headers.get("Content-Encoding", ""), raw,
                           settings.max_body_bytes, settings.max_batch_events)
    result = await request.app[appkeys.INGESTOR].ingest(events, request[appkeys.PRINCIPAL].signatory)
    return json_response(EventsAccepted(accepted=result.accepted, duplicates=result.duplicates), status=202)
