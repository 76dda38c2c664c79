"""What a gateway's auth sub-request tells us, and the headers it gets back (pure functions).

The signatory is found from the original host (a signatory's sub-domain) or from the dataset id
in an OpenDataSoft path; the answer carries the IETF ratelimit-headers draft's ``RateLimit-Policy``
and ``RateLimit`` fields, with the partition key naming the scope and signatory.
"""
from __future__ import annotations

import base64
from datetime import datetime

from meter.decision.model import Decision


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
