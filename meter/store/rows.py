"""Rows as the writer inserts them (JSONEachRow), built where the data is known.

Times in event rows are Unix seconds with a fraction (what ClickHouse reads for DateTime64 in
JSON; integer milliseconds would be misread as seconds); query parameters, and the rows of
signatory changes and allocations, use ``ch_time`` strings.
"""
from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

import orjson

from meter.core import quotas

if TYPE_CHECKING:  # the type only: the store does not depend on ingestion
    from meter.compliance.checks import DatasetCheck
    from meter.ingest.event import UsageEvent


def ch_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def event_row(pool: str, ev: UsageEvent, signatory: str, day: date, received: float, dedup_ns: str = "") -> bytes:
    """``dedup_ns``: the signatory a bound token sent it for (its dedup namespace), else ''."""
    return orjson.dumps({
        "pool": pool, "source": ev.source, "id": ev.id, "type": ev.type, "time": round(ev.time.timestamp(), 6),
        "day": day.isoformat(), "signatory": signatory, "subject": ev.subject, "dataset": ev.dataset,
        "object": ev.object, "kind": ev.kind, "amount": ev.amount, "raw_bytes": ev.raw_bytes,
        "check_id": ev.check_id, "received": received, "dedup_ns": dedup_ns,
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


USAGE_SOURCE = "meter/check"  # the source of the usage rows the ledger scripts record


def usage_rows(pool: str, tz: tzinfo, facts: bytes, at_ms: int, ref: str) -> bytes:
    """The history rows of usage the hot path records itself, from the facts a ledger script
    appended to the stream: decide.lua (consumed checks, summed per metric, signatory and dataset
    over a batch) and reservation.lua (a commit).

    ``facts`` is a JSON array of ``[metric, signatory, dataset, amount, check_keys]``, where
    ``check_keys`` lists ``digest:fingerprint`` of the checks sent with an ``id`` that the fact
    sums (the digest of the id's key and the fingerprint of the request), so that a ledger
    rebuild can restore them. ``at_ms`` is the script's time (the service's clock), ``ref`` names
    the entry: row ``i`` (from 1) gets the id ``ref-i``.
    """
    t = at_ms / 1000
    day = datetime.fromtimestamp(t, tz).date().isoformat()
    return b"\n".join(orjson.dumps({
        "pool": pool, "source": USAGE_SOURCE, "id": f"{ref}-{i}", "type": quotas.metric(metric).event_type, "time": t,
        "day": day, "subject": sig, "dataset": dataset, "object": "", "kind": "", "amount": amount, "raw_bytes": 0,
        "check_id": "", "check_keys": check_keys, "received": t, "signatory": sig})
        for i, (metric, sig, dataset, amount, check_keys) in enumerate(orjson.loads(facts), 1))
