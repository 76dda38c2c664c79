"""What decide.lua costs inside Redis: batches of 100 checks and single checks, by policy.

    .venv/bin/python bench/decide_cost.py [--rounds 30] [--policies none max_min_fair elastic] [--json]

Not a test. It starts a private ``redis-server`` on a free loopback port (stopped by pid at the
end), so that no other client's commands fall into its figures, and drives it through the real
``Decider``: 200 signatories with allotments stored by the real ``Allocator``, the policies'
pools interleaved round by round so that the machine's noise falls on all of them alike (under
``elastic`` every batch moves the protection index: the clock advances a minute per round).

Per call it reads ``INFO commandstats`` before and after: the script's time inside Redis
(``cmdstat_evalsha`` usec, what Redis itself measured) apart from the wall time of the
``Decider`` call (Python and the round trip included). It prints the medians, in ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from meter.allocation.service import Allocator  # noqa: E402
from meter.config.settings import parse_pool_config  # noqa: E402
from meter.core.clock import FixedClock  # noqa: E402
from meter.core.periods import month_of  # noqa: E402
from meter.decision.engine import Decider  # noqa: E402
from meter.decision.model import Ask  # noqa: E402
from meter.ledger.allotments import AllotmentStore  # noqa: E402
from meter.ledger.keys import Keys  # noqa: E402
from meter.ledger.redis_decisions import RedisDecisions  # noqa: E402
from meter.observability.telemetry import Telemetry  # noqa: E402

SIGNATORIES = [f"s{i:03}" for i in range(200)]
START = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own: nothing but this benchmark runs commands on it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="decide-cost-")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        return f"redis://127.0.0.1:{self.port}/0"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


async def pool(client: redis.Redis, policy: str, clock: FixedClock) -> Decider:
    pid = f"bench-cost-{uuid.uuid4().hex[:8]}"
    keys = Keys(pid)
    config = parse_pool_config(f'[pool]\nid = "{pid}"\n[caps]\napi_calls = 3000000\n'
                               f'[allocation]\npolicy = "{policy}"\nweight = "weight"\n', "bench")
    await client.set(keys.ledger_epoch, 1)
    await client.sadd(keys.signatory_ids, *SIGNATORIES)
    period = month_of(clock.now(), config.tz)
    shares = {sid: {"api_calls": 10_000 + 100 * i} for i, sid in enumerate(SIGNATORIES)}
    doc = {"pool": pid, "period": period.label, "policy": policy, "inputs": {}, "signatories": shares,
           "burst": {}, "explanation": "", "explanation_fr": ""}
    allocator = Allocator(AllotmentStore(client, keys), None, None, config, clock, Telemetry())
    await allocator._store(period, doc, "bench", True, "bench")
    return Decider(RedisDecisions(client, keys, 3600, 5.0), config, clock, Telemetry())


async def script_usec(client: redis.Redis) -> tuple[int, int]:
    """Calls and microseconds Redis spent in scripts so far (EVALSHA, and EVAL on a reload)."""
    stats = await client.info("commandstats")
    calls = usec = 0
    for name in ("cmdstat_evalsha", "cmdstat_eval"):
        calls += int(stats.get(name, {}).get("calls", 0))
        usec += int(stats.get(name, {}).get("usec", 0))
    return calls, usec


async def timed(client: redis.Redis, decider: Decider, asks: list[Ask]) -> tuple[float, float]:
    """(wall seconds of the Decider call, seconds decide.lua ran inside Redis)."""
    calls0, usec0 = await script_usec(client)
    started = time.perf_counter()
    await decider.decide(asks)
    wall = time.perf_counter() - started
    calls1, usec1 = await script_usec(client)
    assert calls1 - calls0 == 1, "one script call per decide()"
    return wall, (usec1 - usec0) / 1e6


def ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


async def main(rounds: int, policies: list[str], as_json: bool) -> None:
    with PrivateRedis() as url:
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                await client.ping()
                break
            except redis.ConnectionError:
                await asyncio.sleep(0.05)
        clock = FixedClock(START)
        pools = {p: await pool(client, p, clock) for p in policies}
        figures: dict[str, dict[str, list[float]]] = {
            p: {"batch_wall": [], "batch_redis": [], "single_wall": [], "single_redis": []} for p in policies}
        rng = random.Random(1)
        try:
            for p in policies:  # loads the script and fills the caches: not measured
                await pools[p].decide([Ask("api_calls", 1, SIGNATORIES[0])])
            for _ in range(rounds):
                clock.set(clock.now() + timedelta(minutes=1))
                asks = [Ask("api_calls", rng.randint(1, 20), rng.choice(SIGNATORIES)) for _ in range(100)]
                for p in rng.sample(policies, len(policies)):
                    wall, inside = await timed(client, pools[p], asks)
                    figures[p]["batch_wall"].append(wall)
                    figures[p]["batch_redis"].append(inside)
                    wall, inside = await timed(client, pools[p], asks[:1])
                    figures[p]["single_wall"].append(wall)
                    figures[p]["single_redis"].append(inside)
        finally:
            await client.aclose()
    medians = {p: {f"{k}_ms": ms(v) for k, v in f.items()} for p, f in figures.items()}
    print("| policy | batch of 100 inside Redis | wall | single check inside Redis | wall |  (median ms)\n"
          "|---|---|---|---|---|")
    for p, m in medians.items():
        print(f"| {p} | {m['batch_redis_ms']:.3f} | {m['batch_wall_ms']:.3f} | {m['single_redis_ms']:.3f} "
              f"| {m['single_wall_ms']:.3f} |")
    if as_json:
        print(json.dumps({"rounds": rounds, "policies": medians}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--policies", nargs="+", default=["none", "max_min_fair", "elastic"])
    ap.add_argument("--json", action="store_true", help="one JSON object of the figures on the last line")
    args = ap.parse_args()
    asyncio.run(main(args.rounds, args.policies, args.json))
