"""Memory cost of the dedup window: Redis bytes per million remembered (source, id) pairs.

    .venv/bin/python bench/dedup_memory.py [--events 1000000]

Writes the same keys the ingest script writes (``meter:{pool}:seen:<24 hex>``, value '1', with a
TTL) into a throw-away pool, reads INFO memory before and after, and deletes them.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from meter.ledger.keys import Keys  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    client = redis.Redis.from_url(args.url)
    keys = Keys(f"bench-{uuid.uuid4().hex[:8]}")
    before = client.info("memory")["used_memory"]
    for start in range(0, args.events, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 10_000, args.events)):
            pipe.set(keys.seen("https://portal.example.org/gateway", f"event-{i:012d}"), 1, ex=35 * 86400, nx=True)
        pipe.execute()
    after = client.info("memory")["used_memory"]
    per_million = (after - before) / args.events * 1_000_000
    print(f"{args.events} dedup keys: {(after - before) / 2**20:.1f} MiB, "
          f"{(after - before) / args.events:.0f} bytes per event, {per_million / 2**20:.0f} MiB per million")
    for batch in _chunks(client.scan_iter(match=keys.pattern, count=5000), 5000):
        client.delete(*batch)


def _chunks(it, n):
    chunk = []
    for item in it:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


if __name__ == "__main__":
    main()
