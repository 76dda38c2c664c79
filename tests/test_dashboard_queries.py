"""Every ClickHouse query of the dashboards, run on chDB and on the server path against the real
schema, on data sent through the real service, with the plugin's macros and the template variables expanded; the
figures of the API-calls, records and allotment panels checked against /v1/usage and /v1/pool."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dashboards import catalogue, macros
from meter.http import appkeys
from meter.store.clickhouse import ClickHouseStore, ServerBackend
from tests import dashboard_data as data
from tests.conftest import auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.both_stores]

# April in the pool's time zone (2026-04-01 00:00 Europe/Paris), to an hour after the clock.
START = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
END = datetime(2026, 4, 20, 13, 0, tzinfo=UTC)
CLICKHOUSE = [q for q in catalogue.all_queries() if q.kind != "prometheus"]


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, data.POOL_EXTRA)


@pytest.fixture
async def seeded(client, request):
    """The service with data; ``client.panels`` runs the panels in the data source's default
    database (panels name no database): a client opened on it (server path), or USE (chDB)."""
    await data.seed(client)
    store = client.app[appkeys.STORE]
    if isinstance(store.backend, ServerBackend):
        backend = await ServerBackend.connect(request.getfixturevalue("clickhouse_url"), database=store.db)
        client.panels = ClickHouseStore(backend, store.db)
        client.panels.migrated = True  # the service's store migrated it
        yield client
        await backend.close()
        return
    await store.command(f"USE {store.db}")
    client.panels = store
    yield client
    await store.command("USE default")


def window(pool: str, start: datetime = START, interval_s: int = 1800, **variables: str) -> macros.Range:
    values = {"pool": pool, "timezone": "Europe/Paris", "signatory": "alpha", "explanation": "", **variables}
    return macros.Range(start, END, interval_s, values)


async def run(client, title: str, r: macros.Range) -> list[dict[str, Any]]:
    """The rows of the panel (or variable) named ``title``, as dicts by column name."""
    return await run_query(client, next(q for q in CLICKHOUSE if q.title == title), r)


async def run_query(client, query: catalogue.PanelQuery, r: macros.Range) -> list[dict[str, Any]]:
    store = client.panels
    sql = macros.expand(query.text, r)
    names = [row[0] for row in await store.rows(f"DESCRIBE ({sql})")]  # the column names, in order
    return [dict(zip(names, row)) for row in await store.rows(sql)]


async def get(client, path: str, **params: str) -> dict[str, Any]:
    resp = await client.get(path, params=params, headers=auth("admin"))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def test_there_are_enough_clickhouse_panels():
    panels = [q for q in CLICKHOUSE if q.kind == "clickhouse"]
    assert len(panels) >= 12
    assert {q.dashboard for q in panels} == {"pool", "signatory"}


async def test_every_query_shows_something_on_seeded_data(seeded, pool_id):
    """A panel (or variable) that shows nothing here is a bug: none is meant to be empty."""
    for q in CLICKHOUSE:
        for start in (START, datetime(2026, 3, 21, tzinfo=UTC)):  # one month, then across two
            rows = await run_query(seeded, q, window(pool_id, start))
            assert rows, f"{q.dashboard} / {q.title}: no rows"
            values = [v for row in rows for k, v in row.items() if k != "time"]
            assert any(v not in (None, 0, "") for v in values), f"{q.dashboard} / {q.title}: only zeros {rows}"


async def test_api_calls_panels_match_the_usage_api(seeded, pool_id):
    pool = await get(seeded, "/v1/pool", period="2026-04")
    by_signatory = pool["metrics"]["api_calls"]["by_signatory"]
    top = {row["Signatory"]: row["API calls"] for row in await run(seeded, "Top signatories by API calls",
                                                                     window(pool_id))}
    assert top == {sid: used for sid, used in by_signatory.items() if used}
    per_day = await run(seeded, "API calls per day, with the month's pace", window(pool_id))
    assert per_day[-1]["Month to date"] == pool["metrics"]["api_calls"]["used"]
    assert per_day[-1]["Monthly cap"] == 5000 and per_day[-1]["Pace of the cap"] == round(5000 * 20 / 30)
    for sid in data.SIGNATORIES:
        usage = (await get(seeded, "/v1/usage", signatory=sid, period="2026-04"))["metrics"]["api_calls"]
        rows = await run(seeded, "API calls per day against the allotment", window(pool_id, signatory=sid))
        assert rows[-1]["Month to date"] == usage["used"]
        assert rows[-1]["Monthly allotment"] == usage["allotment"]
        datasets = await run(seeded, "API calls per dataset", window(pool_id, signatory=sid))
        assert sum(r["API calls"] for r in datasets) == usage["used"]


async def test_caps_used_now_match_the_pool_api(seeded, pool_id):
    month = (await get(seeded, "/v1/pool", period="2026-04"))["metrics"]
    today = (await get(seeded, "/v1/pool", period="2026-04-20"))["metrics"]
    rows = {row["metric"]: row for row in await run(seeded, "Each cap: used now", window(pool_id))}
    expected = {m: month[m]["used"] for m in ("api_calls", "records", "raw_bytes", "content_bytes")}
    expected["update_bytes"] = today["update_bytes"]["used"]
    assert {m: rows[m]["used"] for m in expected} == expected
    assert {m: row["cap"] for m, row in rows.items()} == {m: month[m]["cap"] for m in rows}
    assert rows["dataset_records"]["used"] == 1000 * (24 + 4)  # alpha's dataset at its last snapshot
    assert rows["api_calls"]["percent"] == round(100 * expected["api_calls"] / 5000, 2)


async def test_stock_panels_end_at_the_current_stock(seeded, pool_id):
    month = (await get(seeded, "/v1/pool", period="2026-04"))["metrics"]
    records = await run(seeded, "Records stock", window(pool_id))
    assert records[-1]["Records"] == month["records"]["used"] and records[-1]["Records cap"] == 100000
    stored = await run(seeded, "Stored bytes", window(pool_id))
    assert stored[-1]["Raw data"] == month["raw_bytes"]["used"]
    assert stored[-1]["Content"] == month["content_bytes"]["used"]


async def test_signatory_metrics_against_allotments_match_the_usage_api(seeded, pool_id):
    for sid in data.SIGNATORIES:
        usage = (await get(seeded, "/v1/usage", signatory=sid, period="2026-04"))["metrics"]
        day = (await get(seeded, "/v1/usage", signatory=sid, period="2026-04-20"))["metrics"]
        rows = {r["metric"]: r for r in await run(seeded, "Each metric against its allotment",
                                                  window(pool_id, signatory=sid))}
        for metric in ("api_calls", "records", "raw_bytes", "content_bytes"):
            assert (rows[metric]["used"], rows[metric]["allotment"]) == (
                usage[metric]["used"], usage[metric]["allotment"]), (sid, metric)
        assert (rows["update_bytes"]["used"], rows["update_bytes"]["allotment"]) == (
            day["update_bytes"]["used"], day["update_bytes"]["allotment"])


async def test_denials_and_the_explanation_come_from_the_service(seeded, pool_id):
    denials = await run(seeded, "Denials per minute by scope", window(pool_id, interval_s=60))
    assert [(r["scope"], r["Denials per minute"]) for r in denials] == [("signatory", 2)]
    per_signatory = await run(seeded, "Denials per minute", window(pool_id, interval_s=60, signatory="gamma"))
    assert [(r["constraint"], r["Denials per minute"]) for r in per_signatory] == [("api_calls / signatory", 1)]
    explanation = await run(seeded, "variable explanation", window(pool_id))
    alloc = await get(seeded, "/v1/allocations", period="2026-04")
    assert list(explanation[0].values()) == [f"Policy: equal. {alloc['explanation']}"]


async def test_compliance_panels_match_the_compliance_api(seeded, pool_id):
    """The Signatory table and the Pool's share of complete datasets say what GET /v1/compliance says."""
    rows = await run(seeded, "Catalogue compliance: metadata (article 2.6) and updates (2.2)", window(pool_id))
    assert [(r["Dataset"], r["Missing"], r["Late"]) for r in rows] == [
        ("alpha-roads", "Descriptif, Mots-clés", "late"), ("alpha-trees", "", "")]
    api = await get(seeded, "/v1/compliance", signatory="alpha")
    assert {d["dataset"]: d["late"] for d in api["datasets"]} == {r["Dataset"]: r["Late"] == "late" for r in rows}
    assert rows[0]["Frequency"] == "Mensuelle" and rows[0]["Title"] == "Routes"
    gamma = await run(seeded, "Catalogue compliance: metadata (article 2.6) and updates (2.2)",
                      window(pool_id, signatory="gamma"))
    assert [(r["Invalid"], r["Frequency"]) for r in gamma] == [("Fréquence de mise à jour", "Tous les mois")]
    shares = {r["Signatory"]: r for r in await run(seeded, "Complete datasets per signatory (convention, article 2.6)",
                                                    window(pool_id))}
    summaries = (await get(seeded, "/v1/compliance"))["signatories"]
    for sid, summary in summaries.items():
        assert (shares[sid]["Datasets"], shares[sid]["Complete"], shares[sid]["Late"]) == (
            summary["datasets"], summary["complete"], summary["late"]), sid
    assert {sid: r["Complete share"] for sid, r in shares.items()} == {"alpha": 50, "beta": 100, "gamma": 0}


async def test_a_quote_in_a_variable_stays_inside_its_string(seeded, pool_id):
    rows = await run(seeded, "Each metric against its allotment", window(pool_id, signatory="a'b"))
    assert {r["allotment"] for r in rows} == {0}


async def test_the_docs_rendering_draws_every_pool_panel(seeded, pool_id, tmp_path):
    from dashboards import render

    results = await render.panel_results(pool_id, seeded.panels)
    assert all(results.values()), [title for title, rows in results.items() if not rows]
    render.draw(results, tmp_path / "pool.png")
    assert (tmp_path / "pool.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
