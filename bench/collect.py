"""Collector benchmark: an access log through ``meter collect access-log`` into a running meter,
until every line is queryable; lines/s end to end and the collector's peak RSS.

    .venv/bin/python bench/collect.py [--lines 1000000]

The log is written in the shipped ``meter_json`` format (what nginx writes with
deploy/nginx/meter-log-format.conf), generated here rather than by nginx so that the clock
measures the collector and the meter, not a load generator. Half the lines are on a signatory's
host (attributed by host), the rest on the portal's main host with a dataset in the path; one
line in ten is not metered (a 404, or a page outside /api/). The baseline, in the same run on
the same meter: the same events, already built, POSTed straight to /v1/events (two batches of
2,000 in flight, as the collector keeps), until queryable. Not a test: it prints figures for
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._service import ROOT, TOKENS, BenchService  # noqa: E402


def write_log(path: Path, n: int) -> int:
    """``n`` lines ending now; returns how many are metered."""
    start = datetime.now(UTC) - timedelta(seconds=n // 1000 + 60)
    metered = 0
    with open(path, "w") as f:
        for i in range(n):
            t = (start + timedelta(milliseconds=i)).isoformat(timespec="seconds")
            host = "loiret.data.example" if i % 2 else "data.example"
            uri, status = f"/api/explore/v2.1/catalog/datasets/ds-{i % 500}/records?limit=20&offset={i % 97}", 200
            if i % 10 == 3:
                uri, status = "/api/explore/v2.1/catalog/datasets/missing/records", 404
            elif i % 10 == 7:
                uri = f"/explore/dataset/ds-{i % 500}/table/"
            else:
                metered += 1
            f.write(json.dumps({"time": t, "request_id": f"{i:032x}", "host": host, "method": "GET", "uri": uri,
                                "status": status, "bytes_sent": 1500}, separators=(",", ":")) + "\n")
    return metered


async def register(svc: BenchService) -> None:
    body = {"name": "Loiret", "kind": "departement", "hosts": ["loiret.data.example"]}
    async with aiohttp.ClientSession() as http:
        async with http.put(svc.url + "/v1/signatories/loiret", json=body, headers=svc.auth("admin")) as resp:
            assert resp.status in (200, 201), await resp.text()


async def post_direct(svc: BenchService, log: Path) -> None:
    """The baseline: the collector's own events (another source), built before the clock starts."""
    from meter.collectors.access_log import event_of

    with open(log, "rb") as f:
        events = [ev for line in f if (ev := event_of(line, "direct")) is not None]
    bodies = [json.dumps(events[i:i + 2000]).encode() for i in range(0, len(events), 2000)]
    del events
    headers = {**svc.auth("producer"), "Content-Type": "application/cloudevents-batch+json"}
    async with aiohttp.ClientSession() as http:
        async def worker() -> None:
            while bodies:
                async with http.post(svc.url + "/v1/events", data=bodies.pop(), headers=headers) as resp:
                    assert resp.status == 202, await resp.text()

        await asyncio.gather(worker(), worker())


async def wait_queryable(svc: BenchService, expected: int) -> None:
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(svc.url + "/v1/pool", headers=svc.auth("reader")) as resp:
                if (await resp.json())["metrics"]["api_calls"]["used"] >= expected:
                    return
            await asyncio.sleep(0.1)


async def _timed_direct(svc: BenchService, log: Path, metered: int) -> float:
    started = time.perf_counter()
    await post_direct(svc, log)
    await wait_queryable(svc, 2 * metered)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true", help="also print one JSON object of the figures, last")
    args = ap.parse_args()
    svc = BenchService().start()
    log = svc.dir / "access.log"
    try:
        metered = write_log(log, args.lines)
        asyncio.run(register(svc))
        argv = [sys.executable, "-m", "meter", "collect", "access-log", "--url", svc.url,
                "--token", TOKENS["producer"], "--state", str(svc.dir / "state"), str(log)]
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ})
        sent_s = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the collector: the only child waited
        rss_mb, cpu_s = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        assert done.returncode == 0, done.stderr[-2000:]
        asyncio.run(wait_queryable(svc, metered))
        total_s = time.perf_counter() - started
        direct_s = asyncio.run(_timed_direct(svc, log, metered))
    finally:
        svc.stop()
        svc.cleanup_redis()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"log: {args.lines:,} lines ({log.stat().st_size / 1e6:.0f} MB), {metered:,} metered")
    print(f"collector: {done.stdout.strip()}")
    print(f"collector done (all 202):        {args.lines / sent_s:10,.0f} lines/s")
    print(f"end to end (queryable in chDB): {args.lines / total_s:10,.0f} lines/s")
    print(f"collector peak RSS:             {rss_mb:10.0f} MB")
    print(f"collector CPU (user + system):  {cpu_s:10.1f} s, {cpu_s / args.lines * 1e6:.1f} us per line")
    print(f"baseline, the same events POSTed directly, end to end: {args.lines / direct_s:10,.0f} lines/s")
    print(f"collector / baseline:           {direct_s / total_s:10.0%}")
    if args.json:
        print(json.dumps({"lines": args.lines, "end_to_end_per_s": round(args.lines / total_s),
                          "collector_done_per_s": round(args.lines / sent_s),
                          "baseline_per_s": round(args.lines / direct_s),
                          "collector_peak_rss_mb": round(rss_mb)}))
    log.unlink()


if __name__ == "__main__":
    main()
