"""``make soak`` in short (30 s of load instead of 180): the same parts, faults and invariants,
the RSS comparison left out (a 30 s run has no warm-up to compare with). The script exits 1 when
an invariant fails; its table says which."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.service import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.soak]


def test_a_short_soak_keeps_every_invariant():
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "soak.py"), "--seconds", "30"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "| FAILED |" not in done.stdout and done.stdout.count("| ok |") >= 12
