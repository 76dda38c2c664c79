"""The policy simulator: a small run gives plausible numbers, and the command prints a table."""
from __future__ import annotations

import argparse
from collections import Counter

import pytest

from meter.allocation.policies import POLICIES
from meter.allocation.simulate import add_parser, build_world, jain, main, run, signatories


@pytest.fixture(scope="module")
def results():
    return {r.policy: r for r in run(list(POLICIES), months=2, seed=1)}


def test_small_run_gives_plausible_numbers(results):
    assert set(results) == set(POLICIES)
    for r in results.values():
        assert 0 < r.fairness <= 1
        assert 0 <= r.met <= 100 and 0 <= r.heavy_met <= 100 and 0 <= r.others_met <= 100
        assert 0 <= r.served <= r.demand and r.demand == results["none"].demand
        assert 0 <= r.days_out <= 59


def test_max_min_denies_less_with_room_than_weighted(results):
    assert results["max_min_fair"].denied_with_room <= results["weighted"].denied_with_room


def test_no_allotment_means_nothing_denied_while_the_pool_has_room(results):
    assert results["none"].denied_with_room == 0
    assert results["none"].met >= max(r.met for r in results.values())  # the pool alone wastes nothing


def test_the_world_has_the_shape_of_a_region():
    import random

    people = signatories(random.Random(7))
    assert Counter(s.kind for s in people) == {"region": 1, "departement": 6, "epci": 80, "commune": 119}
    small = [s.population for s in people if s.kind in ("epci", "commune")]
    assert 500 <= min(small) and max(small) <= 300_000
    assert min(s.population for s in people if s.kind in ("region", "departement")) > max(
        s.population for s in people if s.kind == "commune")
    assert sum(s.heavy for s in people) == 4


def test_the_world_is_deterministic_for_a_seed():
    assert build_world(1, seed=5).days == build_world(1, seed=5).days
    assert build_world(1, seed=5).days != build_world(1, seed=6).days


def test_jain():
    assert jain([1, 1, 1]) == 1.0
    assert jain([1, 0, 0, 0]) == 0.25
    assert jain([0, 0]) == 1.0


def test_cli_prints_a_table(capsys):
    assert main(["--policy", "all", "--months", "1", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "demand met" in out and "denied with room" in out and "fairness" in out and "days out" in out
    for name in POLICIES:
        assert f"\n{name} " in out


def test_subcommand_for_the_meter_cli(capsys):
    p = argparse.ArgumentParser(prog="meter")
    add_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["simulate", "--policy", "weighted", "--months", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "\nweighted " in out and "\nequal " not in out
    with pytest.raises(SystemExit):
        p.parse_args(["simulate", "--policy", "random"])
