"""Two trees of the meter measured side by side: a commit, and the working tree.

On a shared machine the rates drift by tens of percent within minutes, so two trees measured one
after the other can differ by more than the change between them. Here both are served at once,
each behind its own nginx, and wrk measures them in turn, the order swapped every round (the
idle one takes no load meanwhile). Each round gives, for each tree: single checks / no-op
requests at 64 connections, batched decisions / no-op requests, and the p50 that ``/v1/authz``
adds over the no-op chain at 1 connection. The medians of the rounds are printed at the end.

    .venv/bin/python bench/compare.py 97e0cf8 --rounds 8 --seconds 2 [--json]

The commit is checked out in a temporary git worktree, removed at the end; both trees run with
this tree's virtual environment, nginx configuration and Redis (each on a pool of its own).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._service import ROOT, BenchService  # noqa: E402
from bench.check import _wait_port, find_nginx, nginx_conf, pool_caps, wrk, wrk_script  # noqa: E402

FIGURES = ("single_over_noop", "batch_over_noop", "authz_added_p50_ms")


class Served:
    """One tree's meter and its nginx."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.svc = BenchService(pool_caps("none"), root=root, METER_BENCH_NOOP="true").start(1)
        self.prefix = Path(tempfile.mkdtemp(prefix="meter-compare-nginx-"))
        (self.prefix / "temp").mkdir()
        conf, port = nginx_conf(self.prefix, self.svc.port)
        self.nginx = subprocess.Popen([find_nginx(), "-p", f"{self.prefix}/", "-c", conf],
                                      stderr=subprocess.DEVNULL)
        _wait_port(port)
        self.chain = f"http://127.0.0.1:{port}"
        self.rounds: dict[str, list[float]] = {k: [] for k in FIGURES}

    def measure(self, scripts: dict[str, Path], seconds: int) -> None:
        url = self.svc.url
        noop = wrk(url + "/_bench/noop", scripts["single"], 64, seconds)["rps"]
        single = wrk(url + "/v1/check", scripts["single"], 64, seconds)["rps"]
        batch = wrk(url + "/v1/check", scripts["batch"], 64, seconds)["rps"] * 100
        authz = wrk(self.chain + "/metered/x", None, 1, seconds)["p50_ms"]
        chain = wrk(self.chain + "/noop/x", None, 1, seconds)["p50_ms"]
        for key, value in zip(FIGURES, (single / noop, batch / noop, authz - chain), strict=True):
            self.rounds[key].append(round(value, 3))

    def medians(self) -> dict[str, float]:
        return {k: round(statistics.median(v), 3) for k, v in self.rounds.items()}

    def stop(self) -> None:
        self.nginx.terminate()
        self.nginx.wait(10)
        self.svc.stop()
        self.svc.cleanup_redis()
        shutil.rmtree(self.prefix, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="the commit to compare the working tree with")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=2, help="each wrk run's length")
    ap.add_argument("--work-first", action="store_true",
                    help="start the working tree's meter first (the one started first may fare better)")
    ap.add_argument("--json", action="store_true", help="also print one JSON object of the figures, last")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/compare.py needs wrk: `make bench` installs it (as root), or apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="meter-compare-"))
    scripts = {"single": wrk_script(tmp / "single.lua", {"signatory": "s1", "metric": "api_calls"}),
               "batch": wrk_script(tmp / "batch.lua", [{"signatory": f"s{i % 20}", "metric": "api_calls"}
                                                       for i in range(100)])}
    worktree = tmp / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(worktree), args.base], check=True)
    served: list[Served] = []
    try:
        trees = [(args.base, worktree), ("working tree", ROOT)]
        for name, root in trees[::-1] if args.work_first else trees:
            served.append(Served(name, root))
        for one in served:  # warm both: first requests, scripts loaded
            wrk(one.chain + "/metered/warm", None, 1, 1)
        for r in range(args.rounds):
            for one in served if r % 2 == 0 else served[::-1]:
                one.measure(scripts, args.seconds)
            print(f"round {r + 1}: " + "; ".join(f"{s.name} {[v[-1] for v in s.rounds.values()]}" for s in served),
                  flush=True)
    finally:
        for one in served:
            one.stop()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n| tree | single / no-op, 64 conn | batched decisions / no-op | p50 added by authz, 1 conn |")
    print("| --- | --- | --- | --- |")
    for s in served:
        m = s.medians()
        print(f"| {s.name} | {m['single_over_noop']:.0%} | {m['batch_over_noop']:.1f}x | "
              f"{m['authz_added_p50_ms']:.3f} ms |")
    if args.json:
        print(json.dumps({s.name: {"medians": s.medians(), "rounds": s.rounds} for s in served}))


if __name__ == "__main__":
    main()
