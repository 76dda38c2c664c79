"""A small pool for the partners' pages: three partners with a month and a half of history, a
weighted allocation, datasets and an alert (real Redis and chDB through the app)."""
from __future__ import annotations

from datetime import UTC, datetime

from meter.http import appkeys
from tests.conftest import auth, make_config, wait_written

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
POOL_EXTRA = """name = "Portail open data Centre-Val de Loire"
[caps]
api_calls = 30000
dataset_records = 300000
[allocation]
policy = "weighted"
[reports]
admins = ["opendata@region.example"]
"""
PARTNERS = {  # id: (name, population, calls a day per dataset)
    "sancerre": ("Mairie de Sancerre", 1400, {"horaires-mairie": 30, "marches-publics": 17, "salles-communales": 8}),
    "vierzon": ("Ville de Vierzon", 25000, {"stationnement": 400, "equipements-sportifs": 150}),
    "pays-fort": ("Communauté de communes du Pays Fort", 8000, {"dechetteries": 120}),
}
RECORDS = {"horaires-mairie": 412, "marches-publics": 18_250, "salles-communales": 37, "stationnement": 120_000,
           "equipements-sportifs": 950, "dechetteries": 64}


def _metas(title: str, frequency: str, **drop: bool) -> dict:
    """An ODS Explore v2.1 export's metas, complete but for the ``drop``ped fields."""
    default = {"title": title, "publisher": "Commune", "description": f"<p>{title}, mis à jour par la commune.</p>",
               "modified": "2026-11-02T08:15:00+00:00", "license": "Licence Ouverte v2.0 (Etalab)",
               "theme": ["Administration"], "keyword": ["commune"], "territory": ["Cher"]}
    dcat = {"created": "2021-03-01T00:00:00+00:00", "issued": "2021-03-04T00:00:00+00:00",
            "accrualperiodicity": frequency, "spatial": "Cher", "granularity": "Commune"}
    for name in drop:
        default.pop(name, None)
        dcat.pop(name, None)
    return {"default": default, "dcat": dcat}


METADATA = {  # dataset: (metas, last update): one complete, one incomplete, one late
    "horaires-mairie": (_metas("Horaires de la mairie", "Annuelle"), "2026-09-01T08:00:00Z"),
    "marches-publics": (_metas("Marchés publics", "Mensuelle", description=True, keyword=True),
                        "2026-11-03T08:00:00Z"),
    "salles-communales": (_metas("Salles communales", "Hebdomadaire"), "2026-09-15T08:00:00Z"),
    "stationnement": (_metas("Stationnement", "Temps réel"), "2026-11-17T23:00:00Z"),
}


def config(pool_id: str):
    return make_config(pool_id, POOL_EXTRA)


def _event(n: int, sig: str, kind: str, time: str, data: dict) -> dict:
    return {"specversion": "1.0", "id": f"p{n}", "source": "portal-test", "type": kind, "subject": sig,
            "time": time, "data": data}


async def seed(client, clock) -> None:
    """Partners, October in full and November up to the 18th, records, allotments and alerts."""
    clock.set(NOW)
    for sid, (name, population, _) in PARTNERS.items():
        body = {"name": name, "kind": "commune", "population": population, "joined_at": "2026-01-01",
                "emails": [f"contact@{sid}.example"]}
        resp = await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))
        assert resp.status in (200, 201), await resp.text()
    await client.app[appkeys.ALLOCATOR].ensure_current("test")
    events, n = [], 0
    for month, days in (("2026-10", range(1, 32)), ("2026-11", range(1, 18))):
        for day in days:
            for sid, (_, _, per) in PARTNERS.items():
                for i, (dataset, calls) in enumerate(per.items()):
                    n += 1
                    wobble = (day * 7 + i * 3) % 11 - 5  # busy and quiet days
                    events.append(_event(n, sid, "api.call", f"{month}-{day:02d}T{8 + i:02d}:00:00Z",
                                         {"dataset": dataset, "count": max(1, calls + wobble * calls // 10)}))
    for sid, (_, _, per) in PARTNERS.items():
        for dataset in per:
            n += 1
            stock = {"dataset": dataset, "records": RECORDS[dataset], "raw_bytes": RECORDS[dataset] * 900}
            events.append(_event(n, sid, "dataset.records", "2026-10-02T06:00:00Z", stock))
    owner = {dataset: sid for sid, (_, _, per) in PARTNERS.items() for dataset in per}
    for dataset, (metas, last_update) in METADATA.items():
        n += 1
        events.append(_event(n, owner[dataset], "dataset.metadata", "2026-11-18T06:00:00Z",
                             {"dataset": dataset, "metas": metas, "last_update": last_update}))
    for i in range(0, len(events), 500):
        resp = await client.post("/v1/events", json=events[i:i + 500], headers=auth("producer"))
        assert resp.status == 202, await resp.text()
    await wait_written(client)
    await client.app[appkeys.ALERTS].check()
