"""Compliance as read from ClickHouse (DESIGN §12): each dataset's latest metadata, checked now.

The checks run at reading, on the stored ``metas``, so the answer, the report and the partner's
page always apply today's rules and today's date. ``compliance_for`` is the one call the report
and the partner's page need: one signatory's datasets and their summary.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from meter.compliance.checks import DatasetCheck, Summary, check, summarise
from meter.store import queries
from meter.store.clickhouse import ClickHouseStore


@dataclass(frozen=True)
class Compliance:
    """One signatory's datasets, checked at ``checked_at``."""

    signatory: str
    checked_at: datetime
    datasets: list[DatasetCheck]
    summary: Summary


def _metas(raw: Any) -> dict[str, Any]:
    try:
        found = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


async def checked(store: ClickHouseStore, pool: str, now: datetime,
                  signatory: str | None = None) -> list[tuple[str, DatasetCheck]]:
    """(signatory, check) of every dataset of the pool (or of one signatory), by signatory then dataset."""
    rows = await store.rows(*queries.latest_metadata(store.db, pool, signatory))
    return [(sig, check(dataset, _metas(metas), last_update, now)) for dataset, sig, metas, last_update in rows]


async def compliance_for(store: ClickHouseStore, pool: str, signatory: str, now: datetime) -> Compliance:
    """One signatory's compliance (an empty list and zero counts before its first dataset)."""
    found = [c for _, c in await checked(store, pool, now, signatory)]
    return Compliance(signatory, now, found, summarise(found))


async def pool_compliance(store: ClickHouseStore, pool: str, now: datetime) -> dict[str, Summary]:
    """Every signatory's summary (and ``unattributed``'s) that has at least one dataset."""
    by_sig: dict[str, list[DatasetCheck]] = {}
    for sig, c in await checked(store, pool, now):
        by_sig.setdefault(sig, []).append(c)
    return {sig: summarise(found) for sig, found in by_sig.items()}
