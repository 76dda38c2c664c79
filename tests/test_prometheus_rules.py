"""The operators' rules and scrape configuration pass promtool: syntax, and each rules file's unit
tests (the alert fires on the trouble it names, and not otherwise)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.test_telemetry import promtool

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = sorted((DEPLOY / "rules").glob("*.rules.yml"))


def run(*args: str, cwd: Path = DEPLOY) -> None:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rules_file_has_its_unit_tests():
    assert {p.name for p in RULES} == {"pipeline.rules.yml", "decisions.rules.yml", "allocations.rules.yml",
                                       "mail.rules.yml"}
    for rules in RULES:
        assert rules.with_name(rules.name.replace(".rules.yml", ".test.yml")).exists(), rules.name


def test_promtool_check_rules():
    run("check", "rules", *map(str, RULES))


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_promtool_test_rules(rules: Path):
    run("test", "rules", rules.name.replace(".rules.yml", ".test.yml"), cwd=rules.parent)


def test_promtool_check_config():
    run("check", "config", "prometheus.yml")
