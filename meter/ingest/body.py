"""Decoding a POST /v1/events body into a list of raw CloudEvents (JSON objects).

Accepts one event, a batch, JSON (object or array) or NDJSON, optionally gzip-encoded; the
decompressed size is bounded too, so a small gzip bomb cannot exhaust memory.
"""
from __future__ import annotations

import zlib
from typing import Any

import orjson

from meter.core.errors import InvalidEvents, InvalidRequest, PayloadTooLarge, UnsupportedMediaType

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
NDJSON = ("application/x-ndjson", "application/ndjson")
ACCEPTED_TYPES = (SINGLE, BATCH, JSON, *NDJSON)


def gunzip(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(
            "the body is not valid gzip", [{"field": "body", "reason": f"gzip: {exc}"}]
        ) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed body is larger than {limit} bytes")
    if not inflater.eof:
        raise InvalidRequest("the body is not valid gzip", [{"field": "body", "reason": "truncated gzip stream"}])
    return out


def _loads(data: bytes, where: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("the body is not valid JSON", [{"field": where, "reason": str(exc)}]) from None


def _ndjson(data: bytes) -> list[Any]:
    """One event per non-empty line; every line that is not JSON is named, by its event's index."""
    events: list[Any] = []
    problems: list[dict[str, Any]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                problems.append({"index": len(events) + len(problems), "field": "",
                                 "reason": f"line {number} is not JSON: {exc}"})
    if problems:
        raise InvalidEvents(f"{len(problems)} line(s) of the NDJSON body are not JSON; none was accepted", problems)
    return events


def decode_events(content_type: str, content_encoding: str, raw: bytes, limit: int) -> list[Any]:
    """The body's events, each still raw; raises 400/413/415 errors for what cannot be read."""
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = gunzip(raw, limit)
    elif encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding {content_encoding!r} is not supported (use gzip)")
    if content_type in NDJSON:
        return _ndjson(raw)
    if content_type not in (SINGLE, BATCH, JSON):
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not supported; use one of {', '.join(ACCEPTED_TYPES)}"
        )
    body = _loads(raw, "body")
    if content_type == SINGLE and not isinstance(body, dict):
        raise InvalidRequest("a single CloudEvent must be a JSON object",
                             [{"field": "body", "reason": "not an object"}])
    if content_type == BATCH and not isinstance(body, list):
        raise InvalidRequest("a CloudEvents batch must be a JSON array", [{"field": "body", "reason": "not an array"}])
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        return body
    raise InvalidRequest("the body must be a JSON object or array",
                         [{"field": "body", "reason": "not an object or array"}])
