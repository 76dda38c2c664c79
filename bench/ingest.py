"""Ingestion benchmark: events/s end to end (HTTP NDJSON batches of 1,000 -> queryable in
ClickHouse), and in the same run chDB's own insert rate for the same rows, as a ratio.

    .venv/bin/python bench/ingest.py [--events 300000] [--concurrency 4] [--settle 15]

meter serve's RSS is read at start, as soon as the last event is queryable, and again after
``--settle`` seconds of quiet: what the service keeps once the writer has caught up.

Not a test: it prints figures for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._service import BenchService  # noqa: E402

BATCH = 1000


def this_month(now: datetime) -> tuple[str, int, int]:
    """The current month (YYYY-MM), its first second and how many seconds of it have passed:
    the events are dated inside it, so they count against today's counters as a gateway's do."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first.strftime("%Y-%m"), int(first.timestamp()), max(1, int((now - first).total_seconds()) - 60)


def make_batches(n_events: int, now: datetime) -> list[bytes]:
    _, first, span = this_month(now)
    batches = []
    for b in range(n_events // BATCH):
        lines = []
        for i in range(BATCH):
            k = b * BATCH + i
            when = datetime.fromtimestamp(first + (k * 7919) % span, UTC)
            lines.append(json.dumps({
                "specversion": "1.0", "id": f"ev-{k}", "source": "bench", "type": "api.call",
                "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "subject": f"sig-{k % 200}",
                "data": {"dataset": f"ds-{k % 1000}", "count": 1}}))
        batches.append("\n".join(lines).encode())
    return batches


def rss_mib(pid: int) -> float:
    """The process's resident memory now (VmRSS), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def post_all(svc: BenchService, batches: list[bytes], concurrency: int) -> float:
    headers = {**svc.auth("producer"), "Content-Type": "application/x-ndjson"}
    queue = list(reversed(batches))
    async with aiohttp.ClientSession() as http:
        async def worker() -> None:
            while queue:
                body = queue.pop()
                async with http.post(svc.url + "/v1/events", data=body, headers=headers) as resp:
                    assert resp.status == 202, await resp.text()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def wait_queryable(svc: BenchService, expected: int, month: str) -> None:
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(svc.url + f"/v1/pool?period={month}", headers=svc.auth("reader")) as resp:
                body = await resp.json()
                if body["metrics"]["api_calls"]["used"] >= expected:
                    return
            await asyncio.sleep(0.05)


async def chdb_own_rate(n_events: int, chunk: int) -> float:
    """chDB alone: the same schema, the same rows (JSONEachRow), ``chunk`` rows per insert."""
    from zoneinfo import ZoneInfo

    try:
        from meter.contract.validation import validate_events
    except ImportError:  # an older tree measured with this script
        from meter.ingest.validation import validate_events  # type: ignore[no-redef]
    from meter.store.clickhouse import ClickHouseStore
    from meter.store.rows import event_row

    tz = ZoneInfo("Europe/Paris")
    now = datetime.now(UTC)
    raw = [json.loads(line) for b in make_batches(n_events, now) for line in b.splitlines()]
    rows = [event_row("bench", ev, ev.subject, ev.time.astimezone(tz).date(), now.timestamp())
            for ev in validate_events(raw, now, len(raw))]
    store = await ClickHouseStore.open("", Path(tempfile.mkdtemp(prefix="meter-chdb-")), "bench")
    await store.migrate()
    started = time.perf_counter()
    for i in range(0, len(rows), chunk):
        await store.insert_json("events", b"\n".join(rows[i:i + chunk]), f"own:{i}")
    elapsed = time.perf_counter() - started
    await store.close()
    return len(rows) / elapsed


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--settle", type=float, default=15.0, help="seconds of quiet before RSS is read again")
    ap.add_argument("--json", action="store_true", help="also print one JSON object of the figures, last")
    args = ap.parse_args()
    now = datetime.now(UTC)
    batches = make_batches(args.events, now)
    svc = BenchService().start()
    try:
        rss_start = rss_mib(svc.procs[0].pid)
        started = time.perf_counter()
        post_s = await post_all(svc, batches, args.concurrency)
        await wait_queryable(svc, args.events, this_month(now)[0])
        total_s = time.perf_counter() - started
        rss_end = rss_mib(svc.procs[0].pid)
        await asyncio.sleep(args.settle)
        rss_settled = rss_mib(svc.procs[0].pid)
    finally:
        svc.stop()
        svc.cleanup_redis()
    end_to_end = args.events / total_s
    own = await chdb_own_rate(args.events, 10_000)
    print(f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    print(f"events: {args.events} in NDJSON batches of {BATCH}, {args.concurrency} concurrent producers")
    print(f"accepted (202) rate:            {args.events / post_s:10,.0f} events/s")
    print(f"end to end (queryable in chDB): {end_to_end:10,.0f} events/s")
    print(f"chDB's own insert rate:         {own:10,.0f} rows/s (same rows, 10,000 per insert)")
    print(f"ratio end to end / chDB alone:  {end_to_end / own:10.0%}")
    print(f"meter serve's RSS:              {rss_start:10.1f} MiB started, {rss_end:.1f} MiB after the events, "
          f"{rss_settled:.1f} MiB {args.settle:g} s later")
    if args.json:
        print(json.dumps({"events": args.events, "accepted_per_s": round(args.events / post_s),
                          "end_to_end_per_s": round(end_to_end), "chdb_alone_rows_per_s": round(own),
                          "ratio": round(end_to_end / own, 3), "rss_start_mib": round(rss_start, 1),
                          "rss_end_mib": round(rss_end, 1), "rss_settled_mib": round(rss_settled, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
