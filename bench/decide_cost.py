"""What a policy costs inside decide.lua: batches of checks against 200 signatories' allotments.

    .venv/bin/python bench/decide_cost.py [--rounds 30] [--policies max_min_fair elastic]

Not a test. One process drives the real Redis (127.0.0.1:6379) through the real ``Decider``,
the policies' pools interleaved round by round so that the machine's noise falls on all of
them alike; it prints the median time of one batch of 100 checks (and of one single check) per
policy. The allotments are stored by the real ``Allocator``; under ``elastic`` every batch
moves the protection index (the clock advances a minute per round).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
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
from meter.ledger.keys import Keys  # noqa: E402
from meter.ledger.redis_decisions import RedisDecisions  # noqa: E402
from meter.observability.telemetry import Telemetry  # noqa: E402

URL = "redis://127.0.0.1:6379/0"
SIGNATORIES = [f"s{i:03}" for i in range(200)]
START = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)


async def pool(client: redis.Redis, policy: str, clock: FixedClock) -> tuple[Decider, Keys]:
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
    await Allocator(client, keys, None, None, config, clock, Telemetry())._store(period, doc, "bench", True, "bench")
    return Decider(RedisDecisions(client, keys, 3600, 5.0), config, clock, Telemetry()), keys


async def timed(decider: Decider, asks: list[Ask]) -> float:
    started = time.perf_counter()
    await decider.decide(asks)
    return time.perf_counter() - started


async def main(rounds: int, policies: list[str]) -> None:
    client = redis.Redis.from_url(URL)
    clock = FixedClock(START)
    pools = {p: await pool(client, p, clock) for p in policies}
    batch: dict[str, list[float]] = {p: [] for p in policies}
    single: dict[str, list[float]] = {p: [] for p in policies}
    rng = random.Random(1)
    try:
        for _ in range(rounds):
            clock.set(clock.now() + timedelta(minutes=1))
            asks = [Ask("api_calls", rng.randint(1, 20), rng.choice(SIGNATORIES)) for _ in range(100)]
            for p in rng.sample(policies, len(policies)):
                batch[p].append(await timed(pools[p][0], asks))
                single[p].append(await timed(pools[p][0], asks[:1]))
    finally:
        for _, keys in pools.values():
            found = [k async for k in client.scan_iter(match=keys.pattern, count=1000)]
            if found:
                await client.delete(*found)
        await client.aclose()
    print("| policy | batch of 100, median ms | single check, median ms |\n|---|---|---|")
    for p in policies:
        print(f"| {p} | {statistics.median(batch[p]) * 1000:.2f} | {statistics.median(single[p]) * 1000:.2f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--policies", nargs="+", default=["none", "max_min_fair", "elastic"])
    args = ap.parse_args()
    asyncio.run(main(args.rounds, args.policies))
