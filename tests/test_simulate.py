"""The policy simulator: a small run gives plausible numbers, and the command prints a table."""
from __future__ import annotations

import argparse
from collections import Counter

import pytest

from meter.allocation.policies import POLICIES
from meter.simulation.cli import add_parser, main
from meter.simulation.replay import build_world, jain, run, signatories


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


def test_json_has_the_shape_of_the_design(capsys):
    import json

    assert main(["--policy", "all", "--months", "1", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"seed", "months", "asked", "policies"} and out["seed"] == 3 and out["months"] == 1
    assert set(out["policies"]) == set(POLICIES) and out["asked"] > 0
    for figures in out["policies"].values():
        assert set(figures) == {"demand_met", "heavy", "others", "denied_with_room", "fairness", "days_out"}
        assert all(0 <= figures[k] <= 1 for k in ("demand_met", "heavy", "others", "fairness"))
        assert isinstance(figures["denied_with_room"], int) and isinstance(figures["days_out"], int)


def test_elastic_wastes_little_and_protects_the_light_users(results):
    elastic, none, fair = results["elastic"], results["none"], results["max_min_fair"]
    assert elastic.denied_with_room <= 0.01 * elastic.demand
    assert elastic.met >= none.met - 2 and elastic.heavy_met >= fair.heavy_met
    assert elastic.days_out <= none.days_out


def test_denied_with_room_is_bounded_by_the_room_left_at_the_months_end(results):
    from meter.simulation.replay import CAP

    for r in results.values():
        assert r.denied_with_room <= 2 * CAP  # two months, at most the cap left idle in each


def test_the_stock_scenario_compares_drf_with_one_metric_at_a_time(capsys):
    assert main(["--stocks", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "per metric" in out and "\ndrf " in out and "stranded" in out
    from meter.simulation.stocks import run as stocks

    per_metric, drf = stocks(1)
    assert max(drf["stranded"].values()) < 1e-5 < max(per_metric["stranded"].values())
    assert drf["dominant_share_jain"] > per_metric["dominant_share_jain"]
