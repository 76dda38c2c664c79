"""From signatory records to policy members: who is active in a period, and for how much of it.

A signatory is active from local midnight on ``joined_at`` until local midnight on ``left_at``
(exclusive), in the pool's time zone. Its active fraction is active seconds / seconds in the
period, both measured in UTC so a DST month counts its 743 or 745 real hours (aware datetimes
that share a tzinfo subtract as wall-clock times, which would count 744).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from meter.allocation.base import AllocationError, Member
from meter.config.settings import WeightBy
from meter.core.periods import Period, local_midnight

# the policies that split by no weight at all (DESIGN §5): they never ask for a population
WEIGHTLESS_POLICIES = frozenset({"none", "equal"})


def weight_basis(policy: str, weight_by: WeightBy) -> WeightBy | None:
    """What a policy weighs members by: None for one that uses no weight."""
    return None if policy in WEIGHTLESS_POLICIES else weight_by


def active_fraction(record: Mapping[str, Any], period: Period) -> float:
    """The part of ``period`` during which the signatory is active, from 0 to 1."""
    start = max(period.start, _midnight(record.get("joined_at"), period) or period.start)
    end = min(period.end, _midnight(record.get("left_at"), period) or period.end)
    if end <= start:
        return 0.0
    return _seconds(start, end) / period.seconds


def members_for(records: Sequence[Mapping[str, Any]], period: Period, weight_by: WeightBy | None = "population",
                demand: Mapping[str, int | None] | None = None) -> list[Member]:
    """The members active in ``period``, by id, each weighted by its basis x active fraction.

    With ``weight_by="population"`` every active signatory needs a population: the error names
    all of those without one, so one fix clears it. With ``weight_by=None`` (a policy that uses
    no weight) every member weighs its active fraction and nothing is asked of the record.
    """
    active = [(r, f) for r in records if (f := active_fraction(r, period)) > 0]
    if weight_by == "population":
        _require_populations([r for r, _ in active])
    demand = demand or {}
    members = [Member(r["id"], _basis(r, weight_by) * f, demand.get(r["id"]), f) for r, f in active]
    return sorted(members, key=lambda m: m.id)


def _midnight(day: str | date | None, period: Period) -> datetime | None:
    if day is None:
        return None
    return local_midnight(day if isinstance(day, date) else date.fromisoformat(day), period.tz)


def _seconds(start: datetime, end: datetime) -> float:
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()


def _basis(record: Mapping[str, Any], weight_by: WeightBy | None) -> float:
    if weight_by is None:
        return 1.0
    if weight_by == "population":
        return float(record["population"])
    weight = record.get("weight")
    return 1.0 if weight is None else float(weight)


def _require_populations(records: Sequence[Mapping[str, Any]]) -> None:
    missing = sorted((r for r in records if r.get("population") is None), key=lambda r: r["id"])
    if missing:
        names = ", ".join(f"{r['id']!r} ({r['name']})" if r.get("name") else repr(r["id"]) for r in missing)
        raise AllocationError(
            f"allocation by population needs the population of every active signatory; missing for {names}",
            [{"signatory": r["id"], "field": "population", "reason": "is required when weight = \"population\""}
             for r in missing])
