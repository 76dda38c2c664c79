"""Decoding a POST /v1/events body into a list of raw CloudEvents (JSON objects).

Accepts one event, a batch, JSON (object or array) or NDJSON, optionally gzip-encoded; the
decompressed size is bounded too, so a small gzip bomb cannot exhaust memory. The event count is
checked against ``max_events`` before any per-event work (DESIGN §4 "Limits and trust"): an
NDJSON body's lines are counted by a regex scan, in C, before one of them is parsed.
"""
from __future__ import annotations

import re
import zlib
from typing import Any

import orjson

from meter.core.errors import InvalidEvents, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from meter.core.problems import MAX_PROBLEMS

SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
NDJSON = ("application/x-ndjson", "application/ndjson")
ACCEPTED_TYPES = (SINGLE, BATCH, JSON, *NDJSON)
_LINE = re.compile(rb"\S[^\n]*")  # a non-empty line, from its first non-blank byte


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


def too_many(count: int, max_events: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"a batch holds at most {max_events} events",
                           [{"field": "body", "reason": f"{count} events or more"}])


def _ndjson(data: bytes, max_events: int) -> list[Any]:
    """One event per non-empty line; the lines that are not JSON are named (the first
    ``MAX_PROBLEMS``), by their event's index, after the count is known to be within bounds."""
    lines = []
    for match in _LINE.finditer(data):
        lines.append(match)
        if len(lines) > max_events:
            raise too_many(len(lines), max_events)
    events: list[Any] = []
    problems: list[dict[str, Any]] = []
    bad, number, counted = 0, 1, 0  # line numbers counted incrementally: one scan of the body at most
    for index, match in enumerate(lines):
        try:
            events.append(orjson.loads(match.group()))
        except orjson.JSONDecodeError as exc:
            bad += 1
            if len(problems) < MAX_PROBLEMS:
                number += data.count(b"\n", counted, match.start())
                counted = match.start()
                problems.append({"index": index, "field": "", "reason": f"line {number} is not JSON: {exc}"})
    if bad:
        raise InvalidEvents(f"{bad} line(s) of the NDJSON body are not JSON; none was accepted", problems,
                            omitted=bad - len(problems))
    return events


def decode_events(content_type: str, content_encoding: str, raw: bytes, limit: int,
                  max_events: int = 10_000) -> list[Any]:
    """The body's events, each still raw; raises 400/413/415 errors for what cannot be read, and
    413 for more than ``max_events`` events."""
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = gunzip(raw, limit)
    elif encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding {content_encoding!r} is not supported (use gzip)")
    if content_type in NDJSON:
        return _ndjson(raw, max_events)
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
        if len(body) > max_events:
            raise too_many(len(body), max_events)
        return body
    raise InvalidRequest("the body must be a JSON object or array",
                         [{"field": "body", "reason": "not an object or array"}])
