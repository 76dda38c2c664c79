"""Rows as the writer inserts them (JSONEachRow), built where the data is known.

Times in event rows are Unix seconds with a fraction (what ClickHouse reads for DateTime64 in
JSON; integer milliseconds would be misread as seconds); query parameters, and the rows of
signatory changes and allocations, use ``ch_time`` strings.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:  # the type only: the store does not depend on ingestion
    from meter.compliance.checks import DatasetCheck
    from meter.ingest.validation import UsageEvent


def ch_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def event_row(pool: str, ev: UsageEvent, signatory: str, day: date, received: float) -> bytes:
    return orjson.dumps({
        "pool": pool, "source": ev.source, "id": ev.id, "type": ev.type, "time": round(ev.time.timestamp(), 6),
        "day": day.isoformat(), "signatory": signatory, "subject": ev.subject, "dataset": ev.dataset,
        "object": ev.object, "kind": ev.kind, "amount": ev.amount, "raw_bytes": ev.raw_bytes,
        "check_id": ev.check_id, "received": received,
    })


def metadata_row(pool: str, ev: UsageEvent, signatory: str, received: float, found: DatasetCheck) -> bytes:
    """A ``dataset_metadata`` row (migration 007): the event and what the checks found in it."""
    return orjson.dumps({
        "pool": pool, "dataset": ev.dataset, "signatory": signatory, "time": round(ev.time.timestamp(), 6),
        "received": received, "deleted": 0, "title": found.title or "", "missing": found.missing,
        "invalid": [i.field for i in found.invalid], "frequency": found.frequency or "",
        "max_age_days": found.max_age_days or 0,
        "last_update": round(found.last_update.timestamp(), 6) if found.last_update else None,
        "metas": orjson.dumps(ev.metas or {}).decode(),
    })


AMOUNT_MARK = 987654321987654  # stands for the amount while the template is built


def usage_template(pool: str, etype: str, source: str, id_prefix: str, at: datetime, day: date) -> bytes:
    """A history row as a string.format pattern of (index, signatory, dataset, amount, check_keys,
    signatory).

    For usage the hot path records itself (consumed checks): the ledger script knows the
    signatory a host or dataset resolves to, and sums a batch's consumption per signatory and
    dataset before it writes rows. The strings it fills in come JSON-quoted; ``check_keys`` is a
    JSON array of ``digest:fingerprint`` of the checks sent with an ``id`` that the row sums (the
    digest of the id's key and the fingerprint of the request), so a ledger rebuild can restore them.
    """
    t = round(at.timestamp(), 6)
    row = orjson.dumps({
        "pool": pool, "source": source, "id": "\x00ID", "type": etype, "time": t, "day": day.isoformat(),
        "subject": "\x00SIG", "dataset": "\x00DS", "object": "", "kind": "", "amount": AMOUNT_MARK,
        "raw_bytes": 0, "check_id": "", "check_keys": "\x00KEYS", "received": t, "signatory": "\x00SIG"}).decode()
    row = row.replace("%", "%%").replace('"\\u0000ID"', f'"{id_prefix}%d"')
    row = row.replace('"\\u0000SIG"', "%s", 1).replace('"\\u0000DS"', "%s").replace(str(AMOUNT_MARK), "%d")
    return row.replace('"\\u0000KEYS"', "%s").replace('"\\u0000SIG"', "%s").encode()
