"""Raw CloudEvents -> usage events, through the contract's event models (``meter.contract.events``).

The edge's half of ingestion: ``event_validator`` is what ``app.py`` hands the ingestor.

A batch is validated whole: every problem of every event is collected, with its 0-based index,
field path and reason, and the batch is rejected if there is any (``InvalidEvents``). Its size is
checked first (413), and an event dated more than ``max_skew_s`` after the service's clock is
invalid: a stock snapshot from 2099 would otherwise stay "the newest" forever (DESIGN §4).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from meter.contract import events as model
from meter.contract import fast_events
from meter.core import quotas
from meter.core.errors import InvalidEvents, PayloadTooLarge
from meter.core.problems import details
from meter.ingest.event import UsageEvent, Validate

FLOW_TYPES = quotas.FLOW_BY_EVENT  # the event that moves each flow, from the metric table
EVENT_TYPES = model.EVENT_TYPES
_TAGS = frozenset(EVENT_TYPES)


def _fields(ev: Any) -> dict[str, Any]:
    """The type-specific part of a usage event."""
    d = ev.data
    if isinstance(d, model.ApiCallData):
        return {"dataset": d.dataset or "", "amount": int(d.count), "check_id": d.check_id or "", "host": d.host or ""}
    if isinstance(d, model.UpdateBytesData):
        return {"dataset": d.dataset or "", "amount": int(d.bytes), "kind": d.kind}
    if isinstance(d, model.DatasetRecordsData):
        return {"dataset": d.dataset, "amount": int(d.records), "raw_bytes": int(d.raw_bytes),
                "publisher": d.publisher or ""}
    if isinstance(d, model.ContentBytesData):
        return {"object": d.object, "amount": int(d.bytes)}
    if isinstance(d, model.DatasetMetadataData):
        return {"dataset": d.dataset, "publisher": d.publisher or "", "metas": d.metas,
                "last_update": d.last_update or ""}
    return {"dataset": d.dataset, "publisher": d.publisher or ""}


def _usage(ev: Any, received: datetime) -> UsageEvent:
    return UsageEvent(source=ev.source, id=ev.id, type=ev.type, time=ev.time or received, subject=ev.subject,
                      **_fields(ev))


DEFAULT_SKEW_S = 300


def validate_events(raw: list[Any], received: datetime, max_events: int,
                    max_skew_s: int = DEFAULT_SKEW_S) -> list[UsageEvent]:
    """Every event valid, or ``InvalidEvents`` naming each problem; never a partial result."""
    if not raw:
        raise InvalidEvents("the batch is empty", [{"index": None, "field": "body", "reason": "no events"}])
    if len(raw) > max_events:
        raise PayloadTooLarge(f"a batch holds at most {max_events} events",
                              [{"index": None, "field": "body", "reason": f"{len(raw)} events"}])
    late = received + timedelta(seconds=max_skew_s)
    fast = fast_events.api_calls(raw, received, late)  # the usual batch, without a model per event
    if fast is not None:
        return fast
    try:
        events = model.EVENTS.validate_python(raw)
    except ValidationError as exc:
        problems = details(exc, batch=True, tags=_TAGS, whole="subject")
        problems += _future(raw, received, max_skew_s)
        bad = len({d.get("index") for d in problems})
        raise InvalidEvents(f"{bad} of {len(raw)} events are invalid; none was accepted", problems) from None
    future = [{"index": i, "field": "time", "reason": _ahead(max_skew_s)}
              for i, ev in enumerate(events) if ev.time is not None and ev.time > late]
    if future:
        raise InvalidEvents(f"{len(future)} of {len(raw)} events are invalid; none was accepted", future)
    return [_usage(ev, received) for ev in events]


def _ahead(max_skew_s: int) -> str:
    return f"is more than {max_skew_s} s after the service's clock"


def _future(raw: list[Any], received: datetime, max_skew_s: int) -> list[dict[str, Any]]:
    """The time problems of events that pydantic refused for another reason: the answer names
    every problem at once."""
    late = received + timedelta(seconds=max_skew_s)
    out = []
    for i, item in enumerate(raw):
        time = item.get("time") if isinstance(item, dict) else None
        if isinstance(time, str) and model.TIME_RE.fullmatch(time):
            try:
                if model.parse_time(time) > late:
                    out.append({"index": i, "field": "time", "reason": _ahead(max_skew_s)})
            except ValueError:
                pass
    return out


def event_validator(max_events: int, max_skew_s: int = DEFAULT_SKEW_S) -> Validate:
    """``validate_events`` with the service's bounds, for the ingestor."""
    def validate(raw: list[Any], received: datetime) -> list[UsageEvent]:
        return validate_events(raw, received, max_events, max_skew_s)
    return validate
