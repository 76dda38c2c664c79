"""The type checker passes on the whole package (pydantic's mypy plugin on; pyproject.toml)."""
import subprocess
import sys

from tests.service import ROOT


def test_mypy_finds_no_issue():
    done = subprocess.run([sys.executable, "-m", "mypy", "meter"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
