"""What a gateway's auth sub-request tells us, and the headers it gets back (pure functions).

The signatory is found from the original host (a signatory's sub-domain) or from the dataset id
in an OpenDataSoft path; the answer carries the IETF ratelimit-headers draft's ``RateLimit-Policy``
and ``RateLimit`` fields, with the partition key naming the scope and signatory.
"""
from __future__ import annotations

import base64
import re
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlsplit

from meter.decision.model import Decision
from meter.ingest.validation import MAX_NAME

_DATASET_PATHS = (
    re.compile(r"^/api/explore/v2\.[01]/catalog/datasets/([^/]+)"),
    re.compile(r"^/api/v2/catalog/datasets/([^/]+)"),
    re.compile(r"^/explore/dataset/([^/]+)"),
    re.compile(r"^/api/datasets/1\.0/([^/]+)"),
)
_QUERY_PATHS = re.compile(r"^/api/records/1\.0/")


def original_host(headers) -> str:
    raw = headers.get("X-Original-Host") or headers.get("X-Forwarded-Host") or headers.get("Host") or ""
    host = raw.split(",")[0].strip().lower()
    if not host.isprintable():
        return ""  # a client's own bytes: never passed on
    if host.startswith("["):  # an IPv6 literal: keep the brackets' content, drop the port
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def original_uri(headers) -> str:
    return headers.get("X-Original-URI") or headers.get("X-Forwarded-Uri") or "/"


def dataset_of(uri: str) -> str:
    """The dataset id an OpenDataSoft path names, or '' (also for one that is not printable text:
    the path is the client's, and what it decodes to must not reach the ledger script)."""
    parts = urlsplit(uri)
    found = ""
    for pattern in _DATASET_PATHS:
        if m := pattern.match(parts.path):
            found = unquote(m.group(1))
            break
    else:
        if _QUERY_PATHS.match(parts.path):
            found = (parse_qs(parts.query).get("dataset") or [""])[0]
    return found[:MAX_NAME] if found.isprintable() else ""


def _seconds_until(reset: str | None, now: datetime) -> int | None:
    if reset is None:
        return None
    return max(1, int((datetime.fromisoformat(reset) - now).total_seconds()))


def rate_headers(d: Decision, now: datetime, window_s: int | None) -> dict[str, str]:
    name = f"{d.scope}-{d.metric}"
    partition = base64.b64encode(f"{d.scope}:{d.signatory}".encode()).decode()
    policy = f'"{name}";q={d.limit}' + (f";w={window_s}" if window_s else "") + f";pk=:{partition}:"
    headers = {"RateLimit-Policy": policy, "X-Meter-Signatory": d.signatory}
    reset_s = _seconds_until(d.reset, now)
    if d.remaining is not None:
        headers["RateLimit"] = f'"{name}";r={d.remaining}' + (f";t={reset_s}" if reset_s else "")
    if not d.allowed and d.degraded:
        headers["Retry-After"] = "2"  # Redis is away: try again soon, not at the period's end
    elif not d.allowed and reset_s:
        headers["Retry-After"] = str(reset_s)
    if d.degraded:
        headers["X-Meter-Degraded"] = d.degraded
    return headers
