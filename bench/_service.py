"""Start the real service in a subprocess for a benchmark, with its own pool and data dir."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {"admin": "bench-admin-token", "gateway": "bench-gateway-token", "producer": "bench-producer-token",
          "reader": "bench-reader-token"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchService:
    def __init__(self, extra_toml: str = "", root: Path = ROOT, **env: str) -> None:
        self.root = root  # the tree whose meter is served (bench/compare.py serves another one too)
        self.pool = f"bench-{uuid.uuid4().hex[:8]}"
        self.dir = Path(tempfile.mkdtemp(prefix="meter-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tokens = "".join(f'[[tokens]]\nrole = "{r}"\ntoken = "{t}"\n' for r, t in TOKENS.items())
        (self.dir / "pool.toml").write_text(f'[pool]\nid = "{self.pool}"\n{extra_toml}\n{tokens}')
        self.env = {**os.environ, "METER_CONFIG": str(self.dir / "pool.toml"), "METER_DATA_DIR": str(self.dir),
                    "METER_HTTP_PORT": str(self.port), "METER_LOG_LEVEL": "WARNING", **env}
        self.procs: list[subprocess.Popen] = []

    def start(self, workers: int = 1) -> BenchService:
        log = open(self.dir / "service.log", "ab")
        for i in range(workers):
            env = dict(self.env)
            if i > 0:  # extra workers serve through Redis alone (the first owns chDB)
                env.update(METER_STORE_OWNER="false")
            args = [sys.executable, "-m", "meter", "serve"] + (["--reuse-port"] if workers > 1 else [])
            self.procs.append(subprocess.Popen(args, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT))
            self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError((self.dir / "service.log").read_text()[-3000:])

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[role]}"}

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            p.wait(60)

    def cleanup_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.env.get("METER_REDIS_URL", "redis://127.0.0.1:6379/0"))
        keys = list(client.scan_iter(match=f"meter:{{{self.pool}}}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
