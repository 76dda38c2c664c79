"""Benchmark: a month of usage for 200 partners in chDB, then every partner's report computed,
rendered (PDF included) and sent to an SMTP server on loopback (aiosmtpd).

    .venv/bin/python bench/reports.py [--events 10000000] [--partners 200]

The month's events are generated inside chDB (INSERT ... SELECT FROM numbers(N), through the
same materialized views as the writer's inserts), so loading 10 M events takes seconds rather
than the time ingestion would. The service's objects are the real ones (create_app with a fixed
clock), on the shared Redis under a pool of the benchmark's own, removed afterwards.
Each partner also has 12 datasets whose metadata (DESIGN §12) is incomplete or late in part, so
every report carries its compliance section. Prints: the load time, the queries of all reports of
the month, and the whole run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._setup import EVENTS_COLUMNS, partners, running_app  # noqa: E402
from meter.core.clock import FixedClock  # noqa: E402
from meter.core.periods import parse_period  # noqa: E402
from meter.http import appkeys  # noqa: E402

POOL = "bench-reports"
MONTH = "2026-10"
SMTP_PORT = 8925


class Counter:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages += 1
        return "250 OK"


def load_sql(db: str, n_events: int, n_partners: int) -> str:
    """``n_events`` API calls spread over October 2026; one partner in five calls is the heaviest."""
    return (
        f"INSERT INTO {db}.events ({EVENTS_COLUMNS})"
        f" SELECT '{POOL}', 'bench', toString(number), 'api.call', t, toDate(t, 'Europe/Paris'), s, s,"
        " concat('ds-', toString(number % 37)), '', '', 1, 0, '', t FROM ("
        " SELECT number, toDateTime64(toDateTime('2026-09-30 22:00:00', 'UTC')"
        f" + intDiv(number * 2678400, {n_events}), 6, 'UTC') AS t,"
        f" if(number % 5 = 0, 'sig-000', concat('sig-', leftPad(toString(cityHash64(number) % {n_partners}), 3, '0')))"
        f" AS s FROM numbers({n_events}))")


DATASETS_PER_PARTNER = 12


def _metas(i: int) -> dict:
    """A dataset's metadata as the portal exports it; one in three lacks something, one in five is
    late (its last update is set by ``metadata_rows``), one in eleven has no DCAT template."""
    metas = {"default": {"title": f"Jeu de données {i}", "publisher": "Commune",
                         "description": "<p>Un descriptif <b>en HTML</b>, comme le portail l'exporte.</p>" * 8,
                         "theme": ["Environnement"], "keyword": ["arbres", "voirie"], "license": "Licence Ouverte v2.0",
                         "modified": "2026-10-01T00:00:00+00:00", "territory": ["Centre-Val de Loire"]},
             "dcat": {"created": "2019-01-01", "issued": "2019-01-02",
                      "accrualperiodicity": "Tous les mois" if i % 13 == 0 else "Mensuelle", "granularity": "Commune"}}
    if i % 3 == 0:
        metas["default"]["keyword"] = []
        metas["default"]["description"] = "<p><br></p>"
    if i % 11 == 0:
        del metas["dcat"]
    return metas


def metadata_rows(n_partners: int) -> bytes:
    """Each partner's datasets' latest metadata (DESIGN §12), as the writer would insert them."""
    rows = []
    for p in range(n_partners):
        for d in range(DATASETS_PER_PARTNER):
            i = p * DATASETS_PER_PARTNER + d
            last = "2026-06-01 00:00:00" if i % 5 == 0 else "2026-10-20 00:00:00"
            rows.append(json.dumps({"pool": POOL, "dataset": f"ds-{p:03d}-{d}", "signatory": f"sig-{p:03d}",
                                    "time": "2026-10-25 00:00:00", "received": "2026-10-25 00:00:00",
                                    "max_age_days": 40, "last_update": last, "metas": json.dumps(_metas(i))}))
    return "\n".join(rows).encode()


async def run(n_events: int, n_partners: int, with_metadata: bool = True) -> dict[str, float]:
    clock = FixedClock(datetime(2026, 10, 1, 6, tzinfo=UTC))
    controller = Controller(Counter(), hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    try:
        async with running_app(POOL, clock, smtp_url=f"smtp://127.0.0.1:{SMTP_PORT}") as app:
            return await bench(app, clock, n_events, n_partners, controller.handler, with_metadata)
    finally:
        controller.stop()


async def bench(app: web.Application, clock: FixedClock, n_events: int, n_partners: int,
                smtp: Counter, with_metadata: bool = True) -> dict[str, float]:
    await app[appkeys.REGISTRY].import_rows(partners(n_partners), by="bench")
    await app[appkeys.ALLOCATOR].ensure_current("bench")
    store, ledger = app[appkeys.STORE], app[appkeys.LEDGER]
    started = time.perf_counter()
    await store.command(load_sql(store.db, n_events, n_partners))
    if with_metadata:
        await store.insert_json("dataset_metadata", metadata_rows(n_partners), "bench-metadata")
    load_s = time.perf_counter() - started
    while await ledger.backlog() > 0:  # the allocation rows reach ClickHouse through the writer
        await asyncio.sleep(0.05)
    clock.set(datetime(2026, 11, 2, 7, tzinfo=UTC))
    reports = app[appkeys.REPORTS]
    period = parse_period(MONTH, app[appkeys.CONFIG].tz, clock.now())
    started = time.perf_counter()
    checked = sum(len(found) for found in (await reports.figures(period)).compliance.values())
    queries_s = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    result = await reports.queue(period, None, resend=False)
    await reports.send_queued()
    whole_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    statuses = await reports.statuses(period)
    sent = sum(1 for r in statuses["reports"] if r["status"] == "sent")
    print(f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    print(f"events: {n_events:,} API calls in {MONTH} for {n_partners} partners, loaded in {load_s:.1f} s")
    print(f"queries of all {n_partners + 1} reports (one read of the month, {checked} datasets' metadata "
          f"checked): {queries_s * 1000:,.0f} ms")
    print(f"whole run (queries, render HTML/text/CSV/PDF/chart, send): {whole_s:.1f} s for {result['queued']} "
          f"reports, {whole_s / max(1, result['queued']) * 1000:,.0f} ms each; {sent} sent, {smtp.messages} received; "
          f"CPU of this process (all its threads, chDB's included): {cpu_s:.1f} s")
    return {"reports": result["queued"], "datasets_checked": checked, "queries_s": round(queries_s, 3),
            "run_s": round(whole_s, 1), "run_cpu_s": round(cpu_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--partners", type=int, default=200)
    ap.add_argument("--no-metadata", action="store_true", help="no catalogue metadata: the compliance "
                    "section says there is nothing to check (to measure what the section costs)")
    ap.add_argument("--json", action="store_true", help="also print one JSON object of the figures, last")
    args = ap.parse_args()
    figures = asyncio.run(run(args.events, args.partners, not args.no_metadata))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
