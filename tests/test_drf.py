"""Dominant-resource fairness (pure): the worked example, invariants by hypothesis, and the
allocator's joint stocks."""
from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from meter.allocation.base import Member, Params, apportion
from meter.allocation.drf import STOCKS, Claim, drf, drf_exact, joint_policies

EXAMPLE_CAPS = {"records": 900, "raw_bytes": 1800}


def test_the_worked_example_of_the_docstring():
    shares = drf_exact(EXAMPLE_CAPS, [Claim("a", 1, {"records": 900, "raw_bytes": 300}),
                                      Claim("b", 1, {"records": 150, "raw_bytes": 1800})])
    assert shares["a"] == {"records": Fraction(5400, 7), "raw_bytes": Fraction(1800, 7)}
    assert shares["b"] == {"records": Fraction(900, 7), "raw_bytes": Fraction(10800, 7)}
    # both caps used in full, both signatories at the same dominant share, 6/7
    assert sum(s["records"] for s in shares.values()) == 900 and sum(s["raw_bytes"] for s in shares.values()) == 1800


def test_a_demand_met_is_whole_and_the_rest_goes_to_the_unbounded_by_weight():
    out = drf(EXAMPLE_CAPS, [Claim("a", 1, {"records": 90, "raw_bytes": 30}), Claim("b", 1, None),
                             Claim("c", 2, None), Claim("z", 0, None)])
    assert out["records"]["a"] == 90 and out["raw_bytes"]["a"] == 30
    assert out["records"]["z"] == 0
    assert out["records"]["c"] == 2 * out["records"]["b"] == 540  # (900 - 90) x 2/3


caps_st = st.dictionaries(st.sampled_from(STOCKS), st.integers(0, 10**6), min_size=1)
vector = st.one_of(st.none(), st.fixed_dictionaries({m: st.integers(0, 10**6) for m in STOCKS}))
claims_st = st.lists(st.builds(Claim, id=st.sampled_from([f"s{i}" for i in range(12)]),
                               weight=st.one_of(st.just(0.0), st.integers(0, 1000), st.floats(0, 1e4)),
                               demand=vector), max_size=8, unique_by=lambda c: c.id)


@given(caps_st, claims_st)
def test_never_over_a_cap_nor_over_a_demand(caps, claims):
    out = drf(caps, claims)
    for metric, cap in caps.items():
        assert sum(out[metric].values()) <= cap
        for c in claims:
            assert out[metric][c.id] >= 0
            if c.demand is not None:
                assert out[metric][c.id] <= c.demand[metric]


@given(caps_st, claims_st)
def test_each_gets_a_part_of_its_own_vector_and_nobody_is_left_short_with_room_to_spare(caps, claims):
    exact = drf_exact(caps, claims)
    live = [m for m, cap in caps.items() if cap > 0]
    for c in claims:
        if c.demand is None or c.weight <= 0:
            continue
        parts = {m: exact[c.id][m] / c.demand[m] for m in live if c.demand[m] > 0}
        assert len(set(parts.values())) <= 1  # the same fraction of every component
        if parts and next(iter(parts.values())) < 1:  # short: some cap it needs is full
            assert any(sum(e[m] for e in exact.values()) == caps[m] for m in parts)


def test_joint_policies_keep_the_unattributed_share_and_pass_apportion():
    members = {m: [Member("a", 1.0, 100), Member("b", 3.0, None)] for m in STOCKS}
    caps = {"records": 1000, "raw_bytes": 2000, "content_bytes": 500}
    params = Params(unattributed_share=0.1)
    policies = joint_policies("elastic", caps, members, params)
    result = apportion(policies["records"], caps["records"], members["records"], params)
    # b, unbounded, asks the same share of every cap; content (450 after the set-aside) fills first:
    # a takes 100, b 350 = 7/9 of it, and so 7/9 of the 900 records
    assert result.shares == {"a": 100, "b": 700, "unattributed": 100}
    content = apportion(policies["content_bytes"], 500, members["content_bytes"], params)
    assert content.shares == {"a": 100, "b": 350, "unattributed": 50}
