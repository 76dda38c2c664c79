"""Validation of raw CloudEvents into usage events.

A batch is validated whole: every problem of every event is collected, with its 0-based index,
field path and reason, and the batch is rejected if there is any (``InvalidEvents``).
Hand-written rather than a schema library: it runs on every event at tens of thousands per
second, and its messages are part of the contract.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from meter.errors import InvalidEvents
from meter.settings import MAX_INT

MAX_ID = 256
MAX_SUBJECT = 128
MAX_NAME = 512
# RFC 3339's date-time (fromisoformat alone also takes ISO 8601's other forms, e.g. 20261126T10Z)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?\Z")
FUTURE_SKEW = timedelta(hours=1)

FLOW_TYPES = {"api.call": "api_calls", "update.bytes": "update_bytes"}
STOCK_TYPES = ("dataset.records", "content.bytes", "dataset.deleted")
EVENT_TYPES = (*FLOW_TYPES, *STOCK_TYPES)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    source: str
    id: str
    type: str
    time: datetime  # aware, UTC
    subject: str
    dataset: str = ""
    object: str = ""
    kind: str = ""
    amount: int = 0  # api.call: count; update.bytes and content.bytes: bytes; dataset.records: records
    raw_bytes: int = 0
    check_id: str = ""


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, index: int, field: str, reason: str) -> None:
        self.items.append({"index": index, "field": field, "reason": reason})


def _text(ev: dict, key: str, index: int, p: _Problems, limit: int, required: bool = True, where: str = "") -> str:
    value = ev.get(key)
    path = f"{where}{key}"
    if value is None:
        if required:
            p.add(index, path, "is required")
        return ""
    if not isinstance(value, str) or not value or not value.isprintable():
        p.add(index, path, "must be a non-empty printable string")
        return ""
    if len(value) > limit:
        p.add(index, path, f"must be at most {limit} characters")
        return ""
    return value


def _int(data: dict, key: str, index: int, p: _Problems, minimum: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if value is None:
        p.add(index, f"data.{key}", "is required")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        p.add(index, f"data.{key}", "must be an integer")
        return 0
    if not minimum <= value <= MAX_INT:
        p.add(index, f"data.{key}", f"must be an integer from {minimum} to {MAX_INT}")
        return 0
    return value


def _time(ev: dict, index: int, p: _Problems, received: datetime) -> datetime:
    value = ev.get("time")
    if value is None:
        return received
    if not isinstance(value, str):
        p.add(index, "time", "must be an RFC 3339 string")
        return received
    try:
        if not RFC3339.match(value):
            raise ValueError(value)
        parsed = datetime.fromisoformat(value.upper())  # RFC 3339 allows t and z
    except ValueError:
        p.add(index, "time", f"{value!r} is not an RFC 3339 timestamp")
        return received
    if parsed.tzinfo is None:
        p.add(index, "time", "must carry a UTC offset or 'Z'")
        return received
    try:
        parsed = parsed.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        p.add(index, "time", f"{value!r} is out of range")
        return received
    if parsed > received + FUTURE_SKEW:
        p.add(index, "time", "is more than an hour in the future")
    if parsed.year < 1970:
        p.add(index, "time", "is before 1970 (the start of ClickHouse's Date range)")
    return parsed


def _data_api_call(d: dict, i: int, p: _Problems) -> dict:
    check_id = _text(d, "check_id", i, p, MAX_ID, required=False, where="data.")
    _text(d, "host", i, p, MAX_NAME, False, "data.")
    return {"dataset": _text(d, "dataset", i, p, MAX_NAME, False, "data."),
            "amount": _int(d, "count", i, p, 1, default=1), "check_id": check_id}


def _data_update_bytes(d: dict, i: int, p: _Problems) -> dict:
    out = {"dataset": _text(d, "dataset", i, p, MAX_NAME, False, "data."), "amount": _int(d, "bytes", i, p, 0)}
    kind = d.get("kind")
    if kind is None:
        p.add(i, "data.kind", "is required ('data' or 'content')")
    elif kind not in ("data", "content"):
        p.add(i, "data.kind", "must be 'data' or 'content'")
    return {**out, "kind": kind if isinstance(kind, str) else ""}


def _data_dataset_records(d: dict, i: int, p: _Problems) -> dict:
    _text(d, "publisher", i, p, MAX_NAME, False, "data.")
    return {"dataset": _text(d, "dataset", i, p, MAX_NAME, where="data."),
            "amount": _int(d, "records", i, p, 0), "raw_bytes": _int(d, "raw_bytes", i, p, 0)}


def _data_content_bytes(d: dict, i: int, p: _Problems) -> dict:
    return {"object": _text(d, "object", i, p, MAX_NAME, where="data."), "amount": _int(d, "bytes", i, p, 0)}


def _data_dataset_deleted(d: dict, i: int, p: _Problems) -> dict:
    _text(d, "publisher", i, p, MAX_NAME, False, "data.")
    return {"dataset": _text(d, "dataset", i, p, MAX_NAME, where="data.")}


_DATA: dict[str, Callable[[dict, int, _Problems], dict]] = {
    "api.call": _data_api_call,
    "update.bytes": _data_update_bytes,
    "dataset.records": _data_dataset_records,
    "content.bytes": _data_content_bytes,
    "dataset.deleted": _data_dataset_deleted,
}


_OWNER_FIELDS = {"api.call": "host", "dataset.records": "publisher", "dataset.deleted": "publisher"}


def _names_owner(ev: dict) -> bool:
    """Whether the event may leave ``subject`` out: the service attributes it by data.host or
    data.publisher instead (DESIGN §4)."""
    etype, data = ev.get("type"), ev.get("data")
    key = _OWNER_FIELDS.get(etype) if isinstance(etype, str) else None
    return key is not None and isinstance(data, dict) and isinstance(data.get(key), str) and data[key] != ""


def _one(ev: Any, i: int, p: _Problems, received: datetime) -> UsageEvent | None:
    if not isinstance(ev, dict):
        p.add(i, "", "an event must be a JSON object")
        return None
    before = len(p.items)
    if ev.get("specversion") != "1.0":
        p.add(i, "specversion", "must be \"1.0\"")
    event_id = _text(ev, "id", i, p, MAX_ID)
    source = _text(ev, "source", i, p, MAX_NAME)
    subject = _text(ev, "subject", i, p, MAX_SUBJECT, required=not _names_owner(ev))
    when = _time(ev, i, p, received)
    etype = ev.get("type")
    fields: dict = {}
    if not isinstance(etype, str) or etype not in _DATA:
        p.add(i, "type", f"must be one of {', '.join(EVENT_TYPES)}")
    elif not isinstance(ev.get("data"), dict):
        p.add(i, "data", "must be a JSON object" if "data" in ev else "is required")
    else:
        fields = _DATA[etype](ev["data"], i, p)
    if len(p.items) > before:
        return None
    return UsageEvent(source=source, id=event_id, type=str(etype), time=when, subject=subject, **fields)


def validate_events(raw: list[Any], received: datetime, max_events: int) -> list[UsageEvent]:
    """Every event valid, or ``InvalidEvents`` naming each problem; never a partial result."""
    if not raw:
        raise InvalidEvents("the batch is empty", [{"index": None, "field": "body", "reason": "no events"}])
    if len(raw) > max_events:
        raise InvalidEvents(
            f"a batch holds at most {max_events} events",
            [{"index": None, "field": "body", "reason": f"{len(raw)} events"}],
        )
    problems = _Problems()
    events = [_one(ev, i, problems, received) for i, ev in enumerate(raw)]
    if problems.items:
        bad = len({d["index"] for d in problems.items})
        raise InvalidEvents(f"{bad} of {len(raw)} events are invalid; none was accepted", problems.items)
    return events  # type: ignore[return-value]
