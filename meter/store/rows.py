"""Rows as the writer inserts them (JSONEachRow), built where the data is known.

Times are strings with microseconds in UTC: integer milliseconds in JSONEachRow would be read as
seconds by ClickHouse.
"""
from __future__ import annotations

from datetime import date, datetime

import orjson


def ch_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def event_row(pool: str, ev, signatory: str, day: date, received: str) -> bytes:
    return orjson.dumps({
        "pool": pool, "source": ev.source, "id": ev.id, "type": ev.type, "time": ch_time(ev.time),
        "day": day.isoformat(), "signatory": signatory, "subject": ev.subject, "dataset": ev.dataset,
        "object": ev.object, "kind": ev.kind, "amount": ev.amount, "raw_bytes": ev.raw_bytes,
        "check_id": ev.check_id, "received": received,
    })
