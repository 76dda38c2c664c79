"""Dashboard benchmark: every ClickHouse query of the Pool and Signatory dashboards on a year of
history in chDB, over a 30-day and a 1-year range, as Grafana would send them (macros expanded).

    .venv/bin/python bench/dashboards.py [--events 20000000] [--signatories 200] [--runs 3]

The history is generated inside ClickHouse (INSERT ... SELECT FROM numbers()) straight into the
raw `events` table, in chunks, so the materialized views fill the rollups as the writer's inserts
do; stock snapshots, denials, allocations and caps are inserted beside. Not a test: it prints the
figures for docs/benchmarks.md. Goal: every panel <= 500 ms, each dashboard's queries <= 2 s.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dashboards import catalogue, macros  # noqa: E402
from meter.store.clickhouse import ChdbBackend, ClickHouseStore  # noqa: E402

DB = "bench"
POOL = "bench"
END = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
START = END - timedelta(days=365)
CHUNK = 2_000_000
CAPS = {"api_calls": 30_000_000, "update_bytes": 5_000_000_000, "records": 20_000_000,
        "raw_bytes": 9_000_000_000, "content_bytes": 30_000_000_000, "dataset_records": 300_000}


def _signatory(seed: str, n: int) -> str:
    """A skewed choice: a few heavy signatories, many light ones (the cube of a uniform draw)."""
    return f"concat('sig-', toString(toUInt32(floor(pow(rand({seed}) / 4294967296, 3) * {n}))))"


def flow_events(offset: int, count: int, total: int, n: int) -> str:
    span = int((END - START).total_seconds())
    t = f"toDateTime64({int(START.timestamp())} + intDiv(number * {span}, {total}), 6, 'UTC')"
    return f"""
INSERT INTO {DB}.events (pool, source, id, type, time, day, signatory, subject, dataset, object, kind,
                         amount, raw_bytes, check_id, received)
SELECT '{POOL}', 'bench', toString(number), if(number % 10 = 0, 'update.bytes', 'api.call'), t,
       toDate(t, 'Europe/Paris'), s, s, concat(s, '-ds', toString(number % 5)), '', '',
       if(number % 10 = 0, 10000 + number % 90000, 1 + number % 3), 0, '', t
FROM (SELECT number, {t} AS t, {_signatory('number', n)} AS s FROM numbers({offset}, {count}))"""


def snapshot_events(n: int) -> str:
    """A records snapshot of each signatory's 5 datasets every day, and its content weekly."""
    return f"""
INSERT INTO {DB}.events (pool, source, id, type, time, day, signatory, subject, dataset, object, kind,
                         amount, raw_bytes, check_id, received)
SELECT '{POOL}', 'snap', concat(toString(d), '-', toString(k)), if(k = 5, 'content.bytes', 'dataset.records'),
       t, toDate(t, 'Europe/Paris'), s, s, if(k = 5, '', concat(s, '-ds', toString(k))),
       if(k = 5, concat(s, '-files'), ''), '', (sig + 1) * 10 * (k + 1) + d * 3,
       ((sig + 1) * 10 * (k + 1) + d * 3) * 80,
       '', t
FROM (SELECT intDiv(number, {n * 6}) AS d, intDiv(number % {n * 6}, 6) AS sig, number % 6 AS k,
             concat('sig-', toString(sig)) AS s,
             toDateTime64({int(START.timestamp())} + d * 86400 + 3600, 6, 'UTC') AS t
      FROM numbers({365 * n * 6}))
WHERE k < 5 OR d % 7 = 0"""


def denials(n: int) -> str:
    """Bursts of denials: one minute in 50 has some, for a skewed signatory."""
    return f"""
INSERT INTO {DB}.denials
SELECT '{POOL}', toDateTime({int(START.timestamp())} + number * 60, 'UTC'), {_signatory('number', n)},
       'api_calls', if(number % 3 = 0, 'pool', 'signatory'), 1 + number % 20
FROM numbers({365 * 1440}) WHERE number % 50 = 0"""


def allocations(n: int) -> list[str]:
    doc = "{" + ", ".join(f'"sig-{i}": {{"api_calls": {CAPS["api_calls"] // n}, "update_bytes": '
                          f'{CAPS["update_bytes"] // n}, "records": {CAPS["records"] // n}, "raw_bytes": '
                          f'{CAPS["raw_bytes"] // n}, "content_bytes": {CAPS["content_bytes"] // n}}}'
                          for i in range(n)) + "}"
    rows = []
    day = START
    while day < END:
        for period in ({day.strftime("%Y-%m")} if day.day == 1 or day == START else set()) | {day.date().isoformat()}:
            rows.append(f"('{POOL}', '{period}', '{day:%Y-%m-%d %H:%M:%S}', 'equal', 'schedule', '{doc}', '{{}}',"
                        f" 'Each active signatory gets an equal share.', '')")
        day += timedelta(days=1)
    return [f"INSERT INTO {DB}.allocations VALUES " + ", ".join(rows[i:i + 50]) for i in range(0, len(rows), 50)]


def caps() -> str:
    values = ", ".join(f"('{POOL}', '{m}', '{START:%Y-%m-%d %H:%M:%S}', {c})" for m, c in CAPS.items())
    return f"INSERT INTO {DB}.caps VALUES {values}"


async def load(store: ClickHouseStore, events: int, n: int) -> float:
    started = time.perf_counter()
    for offset in range(0, events, CHUNK):
        await store.command(flow_events(offset, min(CHUNK, events - offset), events, n))
        print(f"  {min(offset + CHUNK, events):,} events", flush=True)
    for sql in [snapshot_events(n), denials(n), caps(), *allocations(n)]:
        await store.command(sql)
    await store.command(f"INSERT INTO {DB}.signatory_changes SELECT '{POOL}', concat('sig-', toString(number)),"
                        f" '{START:%Y-%m-%d %H:%M:%S}', 'created', 'bench', '{{}}' FROM numbers({n})")
    for table in ("usage_daily", "denials"):  # what background merges do to a SummingMergeTree over time
        await store.command(f"OPTIMIZE TABLE {DB}.{table} FINAL")
    return time.perf_counter() - started


async def time_query(store: ClickHouseStore, sql: str, runs: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        rows = len(await store.rows(sql))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), rows


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--signatories", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="chDB directory kept between runs: loaded once, then reused")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="meter-bench-dashboards-") as tmp:
        store = ClickHouseStore(ChdbBackend(args.keep or Path(tmp)), DB)
        if "bench" not in [r[0] for r in await store.rows("SHOW DATABASES")]:
            await store.migrate()
            print(f"loading {args.events:,} flow events over {args.signatories} signatories and a year ...")
            seconds = await load(store, args.events, args.signatories)
        else:
            seconds = 0.0
        counts = {t: (await store.rows(f"SELECT count() FROM {DB}.{t}"))[0][0]
                  for t in ("events", "usage_daily", "stock_snapshots", "denials", "allocations")}
        print(f"loaded in {seconds:.0f} s: {counts}")
        await store.command(f"USE {DB}")
        variables = {"pool": POOL, "timezone": "Europe/Paris", "signatory": "sig-0", "explanation": ""}
        ranges = {"30 days": macros.Range(END - timedelta(days=30), END, 1800, variables),
                  "1 year": macros.Range(START, END, 43200, variables)}
        print("\n| dashboard | query | 30 days (ms) | 1 year (ms) |\n| --- | --- | --- | --- |")
        totals = {(d, r): 0.0 for d in ("pool", "signatory") for r in ranges}
        for q in catalogue.all_queries():
            if q.kind == "prometheus":
                continue
            cells = []
            for label, r in ranges.items():
                median, _ = await time_query(store, macros.expand(q.text, r), args.runs)
                totals[(q.dashboard, label)] += median
                cells.append(f"{median * 1000:.0f}")
            print(f"| {q.dashboard} | {q.title} | {' | '.join(cells)} |", flush=True)
        for (board, label), total in totals.items():
            print(f"| {board} | **whole dashboard** ({label}) | {total * 1000:.0f} ms |")
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
