"""Raw CloudEvents -> usage events, through the contract's event models (``meter.contract.events``).

A batch is validated whole: every problem of every event is collected, with its 0-based index,
field path and reason, and the batch is rejected if there is any (``InvalidEvents``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from meter.contract import events as model
from meter.contract.fields import MAX_ID, MAX_NAME, MAX_SUBJECT  # noqa: F401 - re-exported
from meter.core import quotas
from meter.core.errors import InvalidEvents
from meter.core.problems import details

FLOW_TYPES = quotas.FLOW_BY_EVENT  # the event that moves each flow, from the metric table
EVENT_TYPES = model.EVENT_TYPES
_TAGS = frozenset(EVENT_TYPES)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    source: str
    id: str
    type: str
    time: datetime  # aware, UTC
    subject: str | None  # None: a collector's event, to attribute by ``host`` or ``publisher``
    dataset: str = ""
    object: str = ""
    kind: str = ""
    amount: int = 0  # api.call: count; update.bytes and content.bytes: bytes; dataset.records: records
    raw_bytes: int = 0
    check_id: str = ""
    host: str = ""  # api.call without subject: the host the portal was called on
    publisher: str = ""  # dataset.records / .deleted / .metadata without subject: the portal's publisher
    metas: Mapping[str, Any] | None = None  # dataset.metadata: the portal's metas
    last_update: str = ""  # dataset.metadata: when its data last changed, as the portal says


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


def validate_events(raw: list[Any], received: datetime, max_events: int) -> list[UsageEvent]:
    """Every event valid, or ``InvalidEvents`` naming each problem; never a partial result."""
    if not raw:
        raise InvalidEvents("the batch is empty", [{"index": None, "field": "body", "reason": "no events"}])
    if len(raw) > max_events:
        raise InvalidEvents(
            f"a batch holds at most {max_events} events",
            [{"index": None, "field": "body", "reason": f"{len(raw)} events"}],
        )
    try:
        events = model.EVENTS.validate_python(raw)
    except ValidationError as exc:
        problems = details(exc, batch=True, tags=_TAGS, whole="subject")
        bad = len({d.get("index") for d in problems})
        raise InvalidEvents(f"{bad} of {len(raw)} events are invalid; none was accepted", problems) from None
    return [_usage(ev, received) for ev in events]
