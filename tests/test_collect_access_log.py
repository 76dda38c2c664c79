"""End to end: real nginx writes the access log in the shipped ``meter_json`` format, and
``meter collect access-log`` (a subprocess, as a user runs it) sends it to the real service.

Read twice, rotated by rename + ``nginx -s reopen``, killed with SIGKILL in the middle of a file,
run while the meter is down: every metered 2xx is counted exactly once.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TOKENS, pool_toml
from tests.nginx import DEPLOY, _temp_paths, find_nginx
from tests.service import ROOT, Service, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}", "Content-Type": "application/json"}
READER = {"Authorization": f"Bearer {TOKENS['reader']}"}
RECORDS = "/api/explore/v2.1/catalog/datasets/arrets-bus/records"


class LoggingNginx:
    """nginx as the portal's gateway without auth_request (one that does not call /v1/authz),
    logging with the shipped meter_json format. It answers 200 itself (a proxied stand-in portal
    adds nothing to what is logged), and 404 under /api/missing."""

    def __init__(self, prefix: Path) -> None:
        self.prefix, self.port = prefix, free_port()
        self.log = prefix / "logs" / "meter.log"
        for sub in ("logs", "temp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        self.conf = prefix / "nginx.conf"
        # as root, the workers must stay root: they reopen the log inside pytest's private tmp dir
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 256; }}
http {{
{_temp_paths(prefix)}
    include {DEPLOY}/meter-log-format.conf;
    access_log {self.log} meter_json;
    server {{
        listen 127.0.0.1:{self.port};
        location /api/missing {{ return 404; }}
        location / {{ return 200 "portal"; }}
    }}
}}
""")
        self.proc: subprocess.Popen | None = None

    def argv(self, *extra: str) -> list[str]:
        return [find_nginx(), "-p", f"{self.prefix}/", "-c", str(self.conf), *extra]

    def __enter__(self) -> LoggingNginx:
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            try:
                conn.connect()
                return self
            except OSError:
                time.sleep(0.05)
            finally:
                conn.close()
        raise RuntimeError("nginx did not start")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)

    def reopen(self) -> None:
        subprocess.run(self.argv("-s", "reopen"), check=True, timeout=10)

    def requests(self, paths: list[str], host: str = "loiret.data.example") -> None:
        """Through one keep-alive connection, as a client of the portal."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        for path in paths:
            conn.request("GET", path, headers={"Host": host})
            conn.getresponse().read()
        conn.close()


def _until_reopened(nginx: LoggingNginx) -> None:
    """``nginx -s reopen`` returns before the worker reopened: probe until a line lands in the new file."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        nginx.requests(["/health-probe"])  # not under /api/: never metered
        if nginx.log.exists() and nginx.log.stat().st_size > 0:
            return
        time.sleep(0.05)
    raise AssertionError("nginx did not reopen its log")


def metered(n: int, pad: int = 0) -> list[str]:
    return [f"{RECORDS}?limit=10&n={i}" + (f"&pad={'x' * pad}" if pad else "") for i in range(n)]


def collect(svc: Service, state: Path, *files: Path, follow: bool = False) -> subprocess.Popen:
    argv = [sys.executable, "-m", "meter", "collect", "access-log", "--url", svc.url, "--state", str(state),
            *(["--follow"] if follow else []), *map(str, files)]
    env = {**os.environ, "METER_TOKEN": TOKENS["producer"]}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(svc: Service, state: Path, *files: Path) -> str:
    proc = collect(svc, state, *files)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.strip()


def tally(out: str, path: Path) -> tuple[int, int, int]:
    m = re.fullmatch(rf"sent (\d+) events \((\d+) duplicates, (\d+) skipped\) from {re.escape(str(path))}", out)
    assert m, out
    return int(m[1]), int(m[2]), int(m[3])


def calls(svc: Service) -> dict[str, int]:
    status, body = svc.json("GET", "/v1/pool", headers=READER)
    assert status == 200, body
    return body["metrics"]["api_calls"]["by_signatory"]


def wait_calls(svc: Service, expected: dict[str, int], timeout: float = 30) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while (found := calls(svc)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


@pytest.fixture
def setup(tmp_path, pool_id, redis_client):
    pool_file = tmp_path / "pool.toml"
    pool_file.write_text(pool_toml(pool_id))
    svc = Service(pool_file, tmp_path / "data").start()
    body = json.dumps({"name": "Loiret", "kind": "departement", "hosts": ["loiret.data.example"]}).encode()
    assert svc.request("PUT", "/v1/signatories/loiret", body, ADMIN)[0] == 201
    with LoggingNginx(tmp_path / "nginx") as nginx:
        yield svc, nginx, tmp_path / "state"
    svc.stop()


def test_read_twice_and_rotated_once_counts_once(setup):
    svc, nginx, state = setup
    nginx.requests(metered(20) + ["/api/missing/x"] * 5 + ["/explore/dataset/arrets-bus/"] * 5)
    nginx.requests(metered(3), host="elsewhere.example")
    assert run(svc, state, nginx.log) == f"sent 23 events (0 duplicates, 10 skipped) from {nginx.log}"
    assert run(svc, state, nginx.log) == f"sent 0 events (0 duplicates, 0 skipped) from {nginx.log}"
    nginx.requests(metered(7))
    os.rename(nginx.log, f"{nginx.log}.1")  # as logrotate does, then the signal to reopen
    nginx.requests(metered(4))  # still into the renamed file, until nginx reopens
    nginx.reopen()
    _until_reopened(nginx)
    nginx.requests(metered(9) + ["/api/missing/y"])
    sent, dups, skipped = tally(run(svc, state, nginx.log), nginx.log)
    assert (sent, dups) == (20, 0) and skipped >= 2  # /api/missing/y and the probe(s) of the reopen
    assert wait_calls(svc, {"loiret": 40, "unattributed": 3}) == {"loiret": 40, "unattributed": 3}
    # truncated in place (copytruncate): read again from 0
    os.truncate(nginx.log, 0)
    nginx.requests(metered(2))
    assert run(svc, state, nginx.log) == f"sent 2 events (0 duplicates, 0 skipped) from {nginx.log}"


def saved_offset(checkpoint: Path) -> int:
    """The offset the collector's checkpoint holds for its one file."""
    return next(iter(json.loads(checkpoint.read_text()).values()))["offset"]


def test_sigkill_mid_file_then_restart_counts_each_line_once(setup):
    svc, nginx, state = setup
    nginx.requests(metered(1000, pad=1000))  # ~1.2 MB: three batches
    size = nginx.log.stat().st_size
    proc = collect(svc, state, nginx.log)
    checkpoint, offset = state / "access-log.json", 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists():
            offset = saved_offset(checkpoint)
            if offset > 0:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.002)
    proc.wait(10)
    proc.stdout.close(), proc.stderr.close()
    # the collector may have checkpointed again between that read and the kill: the restart goes
    # on from the checkpoint it left, read once it is dead
    offset = saved_offset(checkpoint)
    assert proc.returncode == -signal.SIGKILL and 0 < offset < size, "killed in the middle of the file"
    left = nginx.log.read_bytes()[offset:].count(b"\n")  # the lines after the checkpoint
    sent, dups, _ = tally(run(svc, state, nginx.log), nginx.log)
    assert sent + dups == left and 0 < left < 1000  # a batch accepted but not checkpointed: duplicates
    assert wait_calls(svc, {"loiret": 1000, "unattributed": 0}) == {"loiret": 1000, "unattributed": 0}


def test_meter_down_then_back_loses_nothing(setup):
    svc, nginx, state = setup
    assert svc.stop() == 0
    proc = collect(svc, state, nginx.log, follow=True)
    nginx.requests(metered(25))
    time.sleep(2)  # the collector retries with backoff meanwhile
    assert proc.poll() is None
    svc.start()
    nginx.requests(metered(5))
    found = wait_calls(svc, {"loiret": 30, "unattributed": 0})
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert found == {"loiret": 30, "unattributed": 0}
    assert out.strip() == f"sent 30 events (0 duplicates, 0 skipped) from {nginx.log}"
    assert "retrying" in err
