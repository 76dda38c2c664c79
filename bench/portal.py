"""Benchmark: a partner's page (DESIGN §11) built from a year of history in chDB.

    .venv/bin/python bench/portal.py [--events 6000000] [--partners 200] [--runs 30] [--json]

A year of API calls for 200 partners (December 2025 to 18 November 2026, one call in five by the
partner whose page is built), weekly record snapshots of 12 datasets per partner, and each
dataset's metadata (DESIGN §12), are generated inside chDB (INSERT ... SELECT FROM numbers(N),
through the writer's materialized views). The service's objects are the real ones (create_app
with a fixed clock on 18 November 2026, so the month is in progress), on the shared Redis under a
pool of the benchmark's own, removed afterwards. A page build is what ``GET /portal/{key}`` does
after resolving the key: read the month's figures, the registry and the alerts, build the view,
render the HTML. Prints the median and 95th percentile of ``--runs`` builds (after one warm-up),
of the partner's page, the pool's page, and of the link's resolution; the goal is 150 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import EVENTS_COLUMNS, partners, running_app  # noqa: E402
from meter.core.clock import FixedClock  # noqa: E402
from meter.core.periods import parse_period  # noqa: E402
from meter.http import appkeys  # noqa: E402

POOL = "bench-portal"
SIG = "sig-000"
NOW = datetime(2026, 11, 18, 10, tzinfo=UTC)
START = "2025-11-30 23:00:00"  # local midnight, 1 December 2025
SECONDS = 352 * 86_400 + 10 * 3600  # to NOW
DATASETS = 12
GOAL_MS = 150


def calls_sql(db: str, n_events: int, n_partners: int) -> str:
    """``n_events`` API calls over the year; one in five by SIG."""
    return (
        f"INSERT INTO {db}.events ({EVENTS_COLUMNS})"
        f" SELECT '{POOL}', 'bench', toString(number), 'api.call', t, toDate(t, 'Europe/Paris'), s, s,"
        f" concat(s, '-ds-', toString(number % {DATASETS})), '', '', 1, 0, '', t FROM ("
        f" SELECT number, toDateTime64(toDateTime('{START}', 'UTC') + intDiv(number * {SECONDS}, {n_events}), 6,"
        f" 'UTC') AS t, if(number % 5 = 0, '{SIG}',"
        f" concat('sig-', leftPad(toString(cityHash64(number) % {n_partners}), 3, '0'))) AS s"
        f" FROM numbers({n_events}))")


def snapshots_sql(db: str, n_partners: int) -> str:
    """A weekly ``dataset.records`` snapshot of each partner's datasets, growing over the year."""
    n = n_partners * DATASETS * 50
    return (
        f"INSERT INTO {db}.events ({EVENTS_COLUMNS})"
        f" SELECT '{POOL}', 'bench-stock', toString(number), 'dataset.records', t, toDate(t, 'Europe/Paris'), s, s,"
        " d, '', '', r, r * 700, '', t FROM ("
        f" SELECT number, toDateTime64(toDateTime('{START}', 'UTC') + intDiv(number, {n_partners * DATASETS}) * 604800,"
        " 6, 'UTC') AS t,"
        f" concat('sig-', leftPad(toString(intDiv(number % {n_partners * DATASETS}, {DATASETS})), 3, '0')) AS s,"
        f" concat(s, '-ds-', toString(number % {DATASETS})) AS d,"
        f" 100 + (number % 977) * 30 + intDiv(number, {n_partners * DATASETS}) * 50 AS r FROM numbers({n}))")


def metadata_rows(n_partners: int) -> bytes:
    """Each dataset's latest metadata; one in three lacks its keywords, one in five is late."""
    rows = []
    for p in range(n_partners):
        for d in range(DATASETS):
            i = p * DATASETS + d
            default = {"title": f"Jeu de données {i}", "publisher": "Commune", "description": "<p>Descriptif.</p>",
                       "theme": ["Environnement"], "keyword": [] if i % 3 == 0 else ["voirie"],
                       "license": "Licence Ouverte v2.0", "modified": "2026-10-01T00:00:00+00:00",
                       "territory": ["Centre-Val de Loire"]}
            dcat = {"created": "2019-01-01", "issued": "2019-01-02", "accrualperiodicity": "Mensuelle",
                    "spatial": "Cher", "granularity": "Commune"}
            rows.append(json.dumps({
                "pool": POOL, "dataset": f"sig-{p:03d}-ds-{d}", "signatory": f"sig-{p:03d}",
                "time": "2026-11-10 00:00:00", "received": "2026-11-10 00:00:00", "max_age_days": 40,
                "last_update": "2026-08-01 00:00:00" if i % 5 == 0 else "2026-11-01 00:00:00",
                "metas": json.dumps({"default": default, "dcat": dcat})}))
    return "\n".join(rows).encode()


async def timed(build, runs: int) -> tuple[float, float, float]:
    """(median, 95th percentile, median CPU) in ms of ``runs`` builds after one warm-up. CPU is the
    process's (chDB's threads included): what a build costs whatever else the machine runs."""
    await build()
    found, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        await build()
        found.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    found.sort()
    return statistics.median(found), found[min(len(found) - 1, round(0.95 * (len(found) - 1)))], \
        statistics.median(cpu)


async def run(n_events: int, n_partners: int, runs: int) -> dict[str, float]:
    clock = FixedClock(datetime(2025, 12, 1, 6, tzinfo=UTC))
    async with running_app(POOL, clock) as app:
        return await bench(app, clock, n_events, n_partners, runs)


async def bench(app: web.Application, clock: FixedClock, n_events: int, n_partners: int,
                runs: int) -> dict[str, float]:
    await app[appkeys.REGISTRY].import_rows(partners(n_partners), by="bench")
    store, ledger = app[appkeys.STORE], app[appkeys.LEDGER]
    started = time.perf_counter()
    await store.command(calls_sql(store.db, n_events, n_partners))
    await store.command(snapshots_sql(store.db, n_partners))
    await store.insert_json("dataset_metadata", metadata_rows(n_partners), "bench-metadata")
    load_s = time.perf_counter() - started
    clock.set(NOW)
    await app[appkeys.ALLOCATOR].ensure_current("bench")
    while await ledger.backlog() > 0:  # the allocation rows reach ClickHouse through the writer
        await asyncio.sleep(0.05)
    pages, links = app[appkeys.PORTAL_PAGES], app[appkeys.PORTAL_LINKS]
    period = parse_period(None, app[appkeys.CONFIG].tz, clock.now())
    _, url = await links.mint("signatory", SIG)
    key = url.rsplit("/", 1)[1]
    html = await pages.partner(SIG, period, "", f"{key}/rapports/")
    assert "Commune 000" in html and "Commune 001" not in html

    async def partner() -> None:
        await pages.partner(SIG, period, "", f"{key}/rapports/")

    async def pool() -> None:
        await pages.pool(period, "appels", "", f"{key}/partenaire/")

    async def resolve() -> None:
        await links.resolve(key)

    partner_ms = await timed(partner, runs)
    pool_ms = await timed(pool, runs)
    resolve_ms = await timed(resolve, runs)
    print(f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    print(f"history: {n_events:,} API calls over a year for {n_partners} partners, {n_partners * DATASETS * 50:,} "
          f"record snapshots, {n_partners * DATASETS} datasets' metadata; loaded in {load_s:.1f} s")
    print(f"partner's page ({SIG}, {len(html):,} bytes): median {partner_ms[0]:.1f} ms, p95 {partner_ms[1]:.1f} ms, "
          f"CPU {partner_ms[2]:.1f} ms over {runs} builds (goal: {GOAL_MS} ms)")
    print(f"pool's page ({n_partners} partners): median {pool_ms[0]:.1f} ms, p95 {pool_ms[1]:.1f} ms, "
          f"CPU {pool_ms[2]:.1f} ms")
    print(f"link resolution: median {resolve_ms[0]:.2f} ms")
    return {"partner_page_ms": round(partner_ms[0], 1), "partner_page_p95_ms": round(partner_ms[1], 1),
            "partner_page_cpu_ms": round(partner_ms[2], 1), "pool_page_ms": round(pool_ms[0], 1),
            "pool_page_p95_ms": round(pool_ms[1], 1), "pool_page_cpu_ms": round(pool_ms[2], 1),
            "resolve_ms": round(resolve_ms[0], 2), "events": n_events, "partners": n_partners,
            "goal_ms": GOAL_MS, "within_goal": partner_ms[0] <= GOAL_MS}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=6_000_000)
    ap.add_argument("--partners", type=int, default=200)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", action="store_true", help="also print one JSON object of the figures, last")
    args = ap.parse_args()
    figures = asyncio.run(run(args.events, args.partners, args.runs))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
