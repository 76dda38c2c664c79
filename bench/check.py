"""Hot-path benchmark: /v1/check single and batched, and /v1/authz behind the real nginx, each
against a no-op baseline measured in the same run (ratios hold on a noisy machine).

    .venv/bin/python bench/check.py [--duration 10] [--workers 1 2]

Needs wrk and nginx (Debian packages wrk, nginx-light). Not a test: it prints the figures for
docs/benchmarks.md. The meter runs as 1 or 2 processes sharing the port (SO_REUSEPORT); the first
owns the embedded store and the writer, the second serves through Redis alone.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._service import TOKENS, BenchService  # noqa: E402
from tests.nginx import _temp_paths, find_nginx, upstream_conf  # noqa: E402
from tests.service import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx"
HUGE = "[caps]\napi_calls = 1000000000000\n"


def wrk_script(path: Path, body: object | None) -> Path:
    lines = [f'wrk.headers["Authorization"] = "Bearer {TOKENS["gateway"]}"']
    if body is not None:
        lines += ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"',
                  f"wrk.body = {json.dumps(json.dumps(body))}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(url: str, script: Path | None, connections: int, seconds: int) -> dict[str, float]:
    threads = min(2, connections)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        args[1:1] = ["-s", str(script)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: _ms(re.search(rf"^\s+{p}%\s+([\d.]+\w+)", out, re.M).group(1)) for p in ("50", "99")}
    return {"rps": rate, "p50_ms": lat["50"], "p99_ms": lat["99"]}


def _ms(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group()), re.sub(r"[\d.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def nginx_conf(prefix: Path, meter_port: int) -> tuple[str, int]:
    port, portal = free_port(), free_port()
    (prefix / "meter-upstream.conf").write_text(upstream_conf(meter_port, TOKENS["gateway"]))
    conf = f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{_temp_paths(prefix)}
    include {prefix}/meter-upstream.conf;
    upstream noop_auth {{ server 127.0.0.1:{meter_port}; keepalive 32; }}
    upstream portal {{ server 127.0.0.1:{portal}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        include {DEPLOY}/meter-locations.conf;
        location = /_noop_auth {{
            internal;
            proxy_pass http://noop_auth/_bench/noop;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
        location /metered/ {{
            include {DEPLOY}/meter-auth.conf;
            proxy_pass http://portal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location /noop/ {{
            auth_request /_noop_auth;
            proxy_pass http://portal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location /plain/ {{
            proxy_pass http://portal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{portal};
        location / {{ return 200 "portal\\n"; }}
    }}
}}
"""
    (prefix / "nginx.conf").write_text(conf)
    return str(prefix / "nginx.conf"), port


def pool_caps(policy: str) -> str:
    """The pool's caps: huge under ``none``; under an allocating policy, within exact Lua
    arithmetic of cap x period seconds (elastic's index), and still never reached in a run."""
    if policy == "none":
        return HUGE
    return f'[caps]\napi_calls = 1000000000\n[allocation]\npolicy = "{policy}"\nweight = "weight"\n'


def run_workers(workers: int, seconds: int, scripts: dict[str, Path],
                policy: str = "none") -> dict[str, dict[str, float]]:
    svc = BenchService(pool_caps(policy), METER_BENCH_NOOP="true").start(workers)
    out: dict[str, dict[str, float]] = {}
    try:
        if policy != "none":
            register(svc, [f"s{i}" for i in range(20)])  # the checked signatories hold allotments
        out["noop"] = wrk(svc.url + "/_bench/noop", scripts["single"], 64, seconds)
        out["check"] = wrk(svc.url + "/v1/check", scripts["single"], 64, seconds)
        out["batch100"] = wrk(svc.url + "/v1/check", scripts["batch"], 64, seconds)
        out["batch100"]["decisions"] = out["batch100"]["rps"] * 100
        out.update(run_nginx(svc, seconds))
    finally:
        svc.stop()
        svc.cleanup_redis()
    return out


def register(svc: BenchService, ids: list[str]) -> None:
    for sid in ids:
        body = json.dumps({"name": sid, "kind": "commune", "weight": 1}).encode()
        req = urllib.request.Request(f"{svc.url}/v1/signatories/{sid}", data=body, method="PUT",
                                     headers={**svc.auth("admin"), "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).close()


def run_nginx(svc: BenchService, seconds: int) -> dict[str, dict[str, float]]:
    prefix = Path(tempfile.mkdtemp(prefix="meter-bench-nginx-"))
    (prefix / "temp").mkdir()
    conf, port = nginx_conf(prefix, svc.port)
    proc = subprocess.Popen([find_nginx(), "-p", f"{prefix}/", "-c", conf], stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_port(port)
        wrk(base + "/plain/warm", None, 1, 1)
        return {
            "authz_nginx": wrk(base + "/metered/x", None, 64, seconds),
            "noop_nginx": wrk(base + "/noop/x", None, 64, seconds),
            "authz_nginx_c1": wrk(base + "/metered/x", None, 1, seconds),
            "noop_nginx_c1": wrk(base + "/noop/x", None, 1, seconds),
            "plain_nginx_c1": wrk(base + "/plain/x", None, 1, seconds),
        }
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_port(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx is not listening on {port}")


def report(workers: int, r: dict[str, dict[str, float]]) -> str:
    def line(name: str, key: str) -> str:
        x = r[key]
        return f"| {workers} | {name} | {x['rps']:,.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} |"

    rows = [line("no-op endpoint, 64 conn", "noop"), line("/v1/check single, 64 conn", "check"),
            line("/v1/check batch of 100, 64 conn (req/s)", "batch100"),
            line("nginx + no-op auth, 64 conn", "noop_nginx"), line("nginx + /v1/authz, 64 conn", "authz_nginx"),
            line("nginx, no auth, 1 conn", "plain_nginx_c1"), line("nginx + no-op auth, 1 conn", "noop_nginx_c1"),
            line("nginx + /v1/authz, 1 conn", "authz_nginx_c1")]
    ratios = [
        f"workers={workers}: check/no-op = {r['check']['rps'] / r['noop']['rps']:.0%}; "
        f"batched decisions/s = {r['batch100']['decisions']:,.0f}; "
        f"authz/no-op through nginx = {r['authz_nginx']['rps'] / r['noop_nginx']['rps']:.0%}; "
        f"p50 added by the meter at 1 conn = {r['authz_nginx_c1']['p50_ms'] - r['plain_nginx_c1']['p50_ms']:.2f} ms "
        f"(vs no-op auth: {r['authz_nginx_c1']['p50_ms'] - r['noop_nginx_c1']['p50_ms']:.2f} ms)"]
    return "\n".join(rows + [""] + ratios)


def as_json(r: dict[str, dict[str, float]]) -> dict[str, float]:
    """The figures the issue tracker compares run to run."""
    return {"noop_rps": round(r["noop"]["rps"]), "check_single_rps": round(r["check"]["rps"]),
            "check_batch_decisions_per_s": round(r["batch100"]["decisions"]),
            "noop_chain_rps": round(r["noop_nginx"]["rps"]), "authz_chain_rps": round(r["authz_nginx"]["rps"]),
            "nginx_p50_ms_1conn": r["plain_nginx_c1"]["p50_ms"],
            "noop_chain_p50_ms_1conn": r["noop_nginx_c1"]["p50_ms"],
            "authz_chain_p50_ms_1conn": r["authz_nginx_c1"]["p50_ms"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--policy", default="none", help="the pool's allocation policy (default none)")
    ap.add_argument("--json", action="store_true", help="also print one JSON object of the figures, last")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/check.py needs wrk: `make bench` installs it (as root), or apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="meter-bench-wrk-"))
    scripts = {"single": wrk_script(tmp / "single.lua", {"signatory": "s1", "metric": "api_calls"}),
               "batch": wrk_script(tmp / "batch.lua", [{"signatory": f"s{i % 20}", "metric": "api_calls"}
                                                       for i in range(100)])}
    print(f"machine: {os.cpu_count()} cores; wrk, nginx (1 worker), Redis and the meter share them")
    print("| meter workers | load | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    reports, figures = [], {}
    for workers in args.workers:
        result = run_workers(workers, args.duration, scripts, args.policy)
        reports.append(report(workers, result))
        figures[str(workers)] = as_json(result)
        print(reports[-1].split("\n\n")[0], flush=True)
    print()
    for rep in reports:
        print(rep.split("\n\n")[1])
    if args.json:
        print(json.dumps({"workers": figures}))


if __name__ == "__main__":
    main()
