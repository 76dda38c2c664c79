"""Seeded data for the dashboards' queries, sent through the real service as producers and
gateways would: events via /v1/events (built with the CloudEvents SDK), decisions via /v1/check,
allocations stored by /v1/allocations/recompute, denials moved to ClickHouse by the scheduled job.

The clock is the app's fixed clock (2026-04-20 12:00 UTC); history covers late March to that day.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cloudevents.v1.conversion import to_structured
from cloudevents.v1.http import CloudEvent

from tests.conftest import auth

POOL_EXTRA = """
[caps]
api_calls = 5000
update_bytes = 10000000
records = 100000
raw_bytes = 50000000
content_bytes = 200000000
dataset_records = 40000
[allocation]
policy = "equal"
"""
SIGNATORIES = {"alpha": ("region", 2_500_000), "beta": ("departement", 650_000), "gamma": ("commune", 12_000)}
FIRST_DAY = date(2026, 3, 25)
LAST_DAY = date(2026, 4, 20)
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def _days() -> list[date]:
    return [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]


def _at(day: date, hour: int = 9) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _event(eid: str, etype: str, subject: str, time: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent({"type": etype, "source": "seed", "id": eid, "subject": subject, "time": time}, data)


def events() -> list[CloudEvent]:
    """A heavy, a steady and a light partner, some unattributed calls, and growing stocks."""
    out = []
    for i, day in enumerate(_days()):
        calls = {"alpha": 40 + 3 * i, "beta": 20, "gamma": 5 if day.weekday() < 5 else 0, "nobody": 2}
        for sid, count in calls.items():
            if count:
                out.append(_event(f"call-{sid}-{day}", "api.call", sid, _at(day),
                                  {"dataset": f"{sid}-trees" if i % 3 else f"{sid}-roads", "count": count}))
        out.append(_event(f"upd-alpha-{day}", "update.bytes", "alpha", _at(day), {"bytes": 1_000_000 + 50_000 * i,
                                                                                  "kind": "data"}))
        out.append(_event(f"upd-beta-{day}", "update.bytes", "beta", _at(day), {"bytes": 300_000, "kind": "data"}))
        if i % 4 == 0:
            for sid, scale in (("alpha", 1000), ("beta", 400), ("gamma", 50)):
                out.append(_event(f"recs-{sid}-{day}", "dataset.records", sid, _at(day, 8),
                                  {"dataset": f"{sid}-trees", "records": scale * (i + 4),
                                   "raw_bytes": scale * 90 * (i + 4)}))
            out.append(_event(f"content-alpha-{day}", "content.bytes", "alpha", _at(day, 8),
                              {"object": "alpha-logo", "bytes": 2_000_000 + 100_000 * i}))
    out.append(_event("recs-beta-roads", "dataset.records", "beta", _at(LAST_DAY, 7),
                      {"dataset": "beta-roads", "records": 1200, "raw_bytes": 64_000}))
    return out + metadata_events()


def _metas(title: str, frequency: str = "Mensuelle", **default: Any) -> dict[str, Any]:
    return {"default": {"title": title, "publisher": "P", "description": "<p>Arbres.</p>", "theme": ["Environnement"],
                        "keyword": ["arbres"], "license": "Licence Ouverte v2.0", "modified": "2026-04-01T00:00:00Z",
                        "territory": ["Centre-Val de Loire"], **default},
            "dcat": {"created": "2019-01-01", "issued": "2019-01-02", "accrualperiodicity": frequency,
                     "granularity": "Arbre"}}


def metadata_events() -> list[CloudEvent]:
    """The catalogue's metadata (DESIGN §12): alpha has a complete dataset and an incomplete, late
    one; beta's are complete; gamma's frequency is off the convention's list."""
    found = [("alpha", "alpha-trees", _metas("Arbres"), "2026-04-10T00:00:00Z"),
             ("alpha", "alpha-roads", _metas("Routes", keyword=[], description="<p><br></p>"), "2026-02-01T00:00:00Z"),
             ("beta", "beta-trees", _metas("Arbres de Beta"), "2026-04-15T00:00:00Z"),
             ("beta", "beta-roads", _metas("Routes de Beta", "Annuelle"), "2025-06-01T00:00:00Z"),
             ("gamma", "gamma-trees", _metas("Arbres de Gamma", "Tous les mois"), "2026-04-01T00:00:00Z")]
    return [_event(f"meta-{dataset}", "dataset.metadata", sid, _at(LAST_DAY, 6),
                   {"dataset": dataset, "metas": metas, "last_update": last}) for sid, dataset, metas, last in found]


async def send_events(client) -> int:
    batch = events()
    body = b"[" + b",".join(to_structured(e)[1] for e in batch) + b"]"
    resp = await client.post("/v1/events", data=body,
                             headers={"Content-Type": "application/cloudevents-batch+json", **auth("producer")})
    assert resp.status == 202, await resp.text()
    return len(batch)


async def register(client) -> None:
    for sid, (kind, population) in SIGNATORIES.items():
        body = {"name": sid.title(), "kind": kind, "population": population, "joined_at": "2020-01-01"}
        resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
        assert resp.status in (200, 201), await resp.text()


async def allocate(client) -> None:
    for body in ({}, {"period": LAST_DAY.isoformat()}):
        resp = await client.post("/v1/allocations/recompute", json=body, headers=auth("admin"))
        assert resp.status in (200, 201), await resp.text()


async def decide(client) -> None:
    """An allowed check that consumes, and two denied: alpha is already over its allotment, gamma asks too much."""
    asks = [{"signatory": "beta", "metric": "api_calls", "amount": 7, "dataset": "beta-trees"},
            {"signatory": "alpha", "metric": "api_calls", "amount": 3},
            {"signatory": "gamma", "metric": "api_calls", "amount": 100_000}]
    resp = await client.post("/v1/check", json=asks, headers=auth("gateway"))
    assert resp.status == 200, await resp.text()
    answers = await resp.json()
    assert [a["allowed"] for a in answers] == [True, False, False], answers


async def flush_denials(client) -> None:
    from meter.http import appkeys
    from meter.jobs.scheduler import Jobs

    app = client.app
    app[appkeys.CLOCK].set(NOW + timedelta(minutes=1, seconds=30))
    jobs = Jobs(app[appkeys.STORES].jobs, app[appkeys.CLOCK], release_expired=None, reconcile=None)  # type: ignore[arg-type]
    assert await jobs.flush_denials() >= 1


async def seed(client) -> None:
    """Everything, in the order a pool lives it; returns when the writer has caught up."""
    from meter.http import appkeys
    from tests.conftest import wait_written

    await register(client)
    # computed after the registry's own recomputations (same fixed clock otherwise): the latest
    client.app[appkeys.CLOCK].set(NOW + timedelta(seconds=10))
    await allocate(client)
    await send_events(client)
    await decide(client)
    await flush_denials(client)
    await wait_written(client)
