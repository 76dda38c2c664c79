"""Schemathesis, a third-party fuzzer, drives the running service from its own /openapi.json.

Every check, and the examples, coverage, fuzzing and stateful phases, once for each role's
token: any finding fails. The allowances are in tests/schemathesis.toml (DESIGN 4). 5xx stays a
finding there: ``not_a_server_error`` runs on every operation.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service import ROOT, Service

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.chdb]
CONFIG = Path(__file__).with_name("schemathesis.toml")
ROLES = {"admin": 10, "gateway": 4, "producer": 4, "reader": 4}  # examples per operation: admin reaches most


def pool_file(tmp: Path, pool: str) -> Path:
    text = (ROOT / "examples" / "demo-pool.toml").read_text()
    path = tmp / "pool.toml"
    # a loaded machine must not turn a slow Redis call into the fail mode's 503 (a finding)
    text = text.replace("redis_timeout_ms = 100", "redis_timeout_ms = 5000")
    path.write_text(text.replace('id = "demo"', f'id = "{pool}"', 1))
    return path


@pytest.fixture(scope="module")
def service(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("schemathesis")
    pool = f"st-{os.getpid()}"
    svc = Service(pool_file(tmp, pool), tmp / "data").start()
    yield svc
    svc.stop()
    import redis
    client = redis.Redis()
    for key in client.scan_iter(f"meter:{{{pool}}}:*", count=1000):
        client.delete(key)
    client.close()


# One worker per run: Hypothesis parses lambda sources with ``ast`` and, on Python 3.11, two
# threads doing so at once may fail ("AST constructor recursion depth mismatch"); four runs in
# parallel keep the service busy instead
def fuzz(service: Service, token: str, examples: int, workdir: Path) -> subprocess.Popen:
    st = Path(sys.executable).with_name("st")
    workdir = workdir / token  # each run its own .hypothesis directory
    workdir.mkdir()
    with open(workdir / "report.txt", "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(st), "--config-file", str(CONFIG), "run", f"{service.url}/openapi.json",
             "--checks", "all", "--exclude-checks", "use_after_free",
             "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(examples),
             "--workers", "1", "--seed", "1", "-H", f"Authorization: Bearer {token}", "--no-color"],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def test_schemathesis_finds_nothing_whatever_the_role(service, tmp_path):
    """The four roles at once: the run waits on the service more than it computes."""
    runs = {role: fuzz(service, f"demo-{role}-token", examples, tmp_path) for role, examples in ROLES.items()}
    failed = {}
    for role, run in runs.items():
        code = run.wait(timeout=600)
        report = (tmp_path / f"demo-{role}-token" / "report.txt").read_text()
        if code != 0:
            failed[role] = report[-5000:]
    assert not failed, "Schemathesis found problems:\n" + "\n".join(f"== {r} ==\n{t}" for r, t in failed.items())
