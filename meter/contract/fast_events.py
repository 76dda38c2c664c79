"""The common case of ``validate_events`` without a model per event: valid ``api.call`` events.

A gateway's or a collector's batch is a thousand ``api.call`` events, nearly always valid. This
module reads such an event straight from its decoded JSON into a ``UsageEvent``, checking the
same rules as the contract's models (``meter.contract.events``), and gives up (``None``) on
anything else: another type, a float count, a missing field, any doubt. A batch it gives up on is
validated by the models, which name every problem: the answers, good or bad, are the models'
(``tests/test_fast_events.py`` holds the two paths equal on valid and invalid events).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from meter.config.settings import MAX_INT
from meter.contract.events import TIME_RE, parse_time
from meter.contract.fields import MAX_ID, MAX_ITEM, MAX_NAME, MAX_SUBJECT
from meter.ingest.event import UsageEvent

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # what fields.TEXT refuses


def _sized(value: Any, limit: int) -> bool:
    return type(value) is str and 0 < len(value) <= limit


def _absent_or_sized(value: Any, limit: int) -> bool:
    return value is None or (type(value) is str and 0 < len(value) <= limit)


def api_call(item: Any, received: datetime, times: dict[str, datetime]) -> UsageEvent | None:
    """A valid ``api.call`` event as a ``UsageEvent``, or None: the models must look at it.
    ``times``: the batch's timestamps already parsed (events of a batch share many)."""
    if type(item) is not dict or item.get("type") != "api.call" or item.get("specversion") != "1.0":
        return None
    ev_id: Any = item.get("id")
    source: Any = item.get("source")
    subject, data = item.get("subject"), item.get("data")
    if type(data) is not dict:
        return None
    dataset, host, check_id, count = data.get("dataset"), data.get("host"), data.get("check_id"), data.get("count", 1)
    if not (_sized(ev_id, MAX_ID) and _sized(source, MAX_NAME) and _absent_or_sized(subject, MAX_SUBJECT)
            and _absent_or_sized(dataset, MAX_ITEM) and _absent_or_sized(host, MAX_NAME)
            and _absent_or_sized(check_id, MAX_ID) and (subject is not None or host is not None)):
        return None
    if type(count) is not int or not 1 <= count <= MAX_INT:
        return None
    dataset, host, check_id = dataset or "", host or "", check_id or ""
    if CONTROL.search(f"{ev_id}{source}{subject or ''}{dataset}{host}{check_id}"):
        return None
    raw_time, time = item.get("time"), received
    if raw_time is not None:
        if type(raw_time) is not str:
            return None
        time = times.get(raw_time)  # type: ignore[assignment]
        if time is None:
            if not TIME_RE.fullmatch(raw_time):
                return None
            try:
                time = times[raw_time] = parse_time(raw_time)
            except ValueError:  # a day the month has not (February 30th)
                return None
    return UsageEvent(source, ev_id, "api.call", time, subject, dataset, "", "", count, 0, check_id, host)


def api_calls(raw: list[Any], received: datetime, late: datetime) -> list[UsageEvent] | None:
    """Every event of ``raw`` through ``api_call``, none dated after ``late``; else None."""
    out = []
    times: dict[str, datetime] = {}
    for item in raw:
        ev = api_call(item, received, times)
        if ev is None or ev.time > late:
            return None
        out.append(ev)
    return out
