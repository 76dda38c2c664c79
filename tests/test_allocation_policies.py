"""Allocation policies (pure): invariants by hypothesis, worked examples by hand, pro rata across DST."""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter.allocation.base import UNATTRIBUTED, AllocationError, Allotment, Member, Params, apportion, fraction_of
from meter.allocation.demand import forecast, with_overrides
from meter.allocation.explain import explanation
from meter.allocation.max_min_fair import MaxMinFair, water_fill
from meter.allocation.members import active_fraction, members_for
from meter.allocation.policies import APPORTIONED_METRICS, POLICIES, is_apportioned, policy_named
from meter.allocation.rounding import largest_remainder
from meter.core.periods import Period

PARIS = ZoneInfo("Europe/Paris")
NO_SET_ASIDE = Params(unattributed_share=0)

# strategies

ids = st.sampled_from([f"s{i:02}" for i in range(40)] + ["234500023", "200000172", "loiret", "a"])
weights = st.one_of(st.just(0.0), st.integers(0, 2_000_000),
                    st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
demands = st.one_of(st.none(), st.integers(0, 2_000_000))
fractions = st.one_of(st.just(1.0), st.floats(0.001, 1.0))
member = st.builds(Member, id=ids, weight=weights, demand=demands, active_fraction=fractions)
members_lists = st.lists(member, max_size=12, unique_by=lambda m: m.id)
caps = st.one_of(st.integers(0, 1000), st.integers(0, 30_000_000_000))
params = st.builds(Params, reserved_fraction=st.floats(0, 1), unattributed_share=st.floats(0, 0.5))
every_policy = pytest.mark.parametrize("name", list(POLICIES))


def member_sum(a: Allotment) -> int:
    return sum(v for k, v in a.shares.items() if k != UNATTRIBUTED)


def cap_after_set_aside(name: str, cap: int, p: Params) -> int:
    return cap if name == "none" else cap - fraction_of(cap, p.unattributed_share)


# properties every policy owes


@every_policy
@given(cap=caps, members=members_lists, p=params)
def test_integers_non_negative_and_never_over_the_cap(name, cap, members, p):
    a = apportion(POLICIES[name], cap, members, p)
    assert all(type(v) is int and v >= 0 for v in a.shares.values())
    assert type(a.burst) is int and a.burst >= 0
    assert a.total <= cap
    assert set(a.shares) <= {m.id for m in members} | {UNATTRIBUTED}


@every_policy
@given(cap=caps, members=members_lists, p=params, order=st.randoms(use_true_random=False))
def test_deterministic_and_the_same_whatever_the_order(name, cap, members, p, order):
    shuffled = list(members)
    order.shuffle(shuffled)
    first = apportion(POLICIES[name], cap, members, p)
    assert apportion(POLICIES[name], cap, members, p) == first
    assert apportion(POLICIES[name], cap, shuffled, p) == first


@every_policy
@given(cap=caps, members=members_lists, p=params)
def test_unattributed_share_is_set_aside_first_unless_policy_is_none(name, cap, members, p):
    a = apportion(POLICIES[name], cap, members, p)
    set_aside = math.floor(Fraction(repr(p.unattributed_share)) * cap)
    if name == "none" or set_aside == 0:
        assert UNATTRIBUTED not in a.shares
    else:
        assert a.shares[UNATTRIBUTED] == set_aside


@given(cap=caps, members=members_lists, p=params)
def test_none_gives_no_allotments(cap, members, p):
    assert apportion(POLICIES["none"], cap, members, p).shares == {}


@pytest.mark.parametrize("name", ["equal", "weighted"])
@given(cap=caps, members=members_lists, p=params)
def test_equal_and_weighted_use_the_whole_cap(name, cap, members, p):
    a = apportion(POLICIES[name], cap, members, p)
    counted = [m for m in members if (m.active_fraction if name == "equal" else m.weight) > 0]
    if counted:
        assert sum(a.shares.values()) == cap
    else:
        assert member_sum(a) == 0


@given(cap=caps, members=members_lists, p=params)
def test_reserved_guarantees_a_fraction_and_keeps_the_rest_as_burst(cap, members, p):
    a = apportion(POLICIES["reserved"], cap, members, p)
    rest = cap_after_set_aside("reserved", cap, p)
    if any(m.weight > 0 for m in members):
        assert member_sum(a) == fraction_of(rest, p.reserved_fraction)
    assert member_sum(a) + a.burst == rest


@given(cap=caps, members=members_lists, p=params)
def test_max_min_never_above_demand_and_pareto(cap, members, p):
    a = apportion(POLICIES["max_min_fair"], cap, members, p)
    rest = cap_after_set_aside("max_min_fair", cap, p)
    weighted = [m for m in members if m.weight > 0]
    for m in members:
        assert m.demand is None or a.shares[m.id] <= m.demand
        if m.weight == 0:
            assert a.shares[m.id] == 0
    if any(m.demand is None for m in weighted) or sum(m.demand or 0 for m in weighted) >= rest:
        assert member_sum(a) == rest  # Pareto: the cap is used up when demand allows
    else:
        assert all(a.shares[m.id] == m.demand for m in weighted)  # everyone's demand is met


@given(cap=st.integers(0, 10**6), extra=st.integers(0, 10**6), members=members_lists, p=params)
def test_max_min_is_monotone_in_the_cap(cap, extra, members, p):
    """Exact shares never fall when the cap grows; rounded ones by at most the one unit of rounding."""
    low, high = water_fill(cap, members), water_fill(cap + extra, members)
    assert all(high[k] >= low[k] for k in low)
    small = apportion(POLICIES["max_min_fair"], cap, members, p)
    large = apportion(POLICIES["max_min_fair"], cap + extra, members, p)
    assert member_sum(large) >= member_sum(small)
    assert all(large.shares[m.id] >= small.shares[m.id] - 1 for m in members)


def test_largest_remainder_is_not_house_monotone_alabama_paradox():
    """Why the monotonicity above allows one unit: Hamilton's method, as the design asks, has the paradox."""
    members = [Member("a", 1), Member("b", 12), Member("c", 7)]
    assert MaxMinFair().allot(69, members, NO_SET_ASIDE).shares == {"a": 4, "b": 41, "c": 24}
    assert MaxMinFair().allot(71, members, NO_SET_ASIDE).shares == {"a": 3, "b": 43, "c": 25}


@given(total=st.integers(0, 10**9), w=st.dictionaries(ids, weights, max_size=15))
def test_largest_remainder_sums_to_the_total(total, w):
    shares = largest_remainder(total, w)
    assert set(shares) == set(w)
    assert sum(shares.values()) == (total if any(v > 0 for v in w.values()) else 0)
    whole = sum(Fraction(v) for v in w.values())
    for sid, v in w.items():
        if v == 0:
            assert shares[sid] == 0
        else:
            exact = total * Fraction(v) / whole
            assert math.floor(exact) <= shares[sid] <= math.floor(exact) + 1


# worked examples


def test_water_filling_by_hand():
    members = [Member("a", 1, 10), Member("b", 1, 50), Member("c", 1, None)]
    assert apportion(POLICIES["max_min_fair"], 100, members, NO_SET_ASIDE).shares == {"a": 10, "b": 45, "c": 45}


def test_weighted_water_filling_by_hand():
    # level 100/4 = 25 per unit of weight: c (10 <= 25) is met; 90 left for weights 1 + 2:
    # level 30, a asks 50 > 30, so a gets 30 and b 60
    members = [Member("a", 1, 50), Member("b", 2, None), Member("c", 1, 10)]
    assert apportion(POLICIES["max_min_fair"], 100, members, NO_SET_ASIDE).shares == {"a": 30, "b": 60, "c": 10}


def test_water_filling_with_the_default_set_aside():
    members = [Member("a", 1, 10), Member("b", 1, 50), Member("c", 1, None)]
    a = apportion(POLICIES["max_min_fair"], 100, members)  # 5 aside, 95: a 10, then 42.5 each
    assert a.shares == {"a": 10, "b": 43, "c": 42, UNATTRIBUTED: 5}  # the half unit: the smaller id


def test_max_min_leaves_idle_what_nobody_demands():
    a = apportion(POLICIES["max_min_fair"], 100, [Member("a", 1, 10), Member("b", 3, 20)], NO_SET_ASIDE)
    assert a.shares == {"a": 10, "b": 20}
    assert "70 left unallotted: demand is below the cap" in a.notes


def test_largest_remainder_ties_go_to_the_smaller_id():
    assert largest_remainder(10, {"b": 1, "c": 1, "a": 1}) == {"a": 4, "b": 3, "c": 3}
    assert largest_remainder(1, {"234500023": 1, "200000172": 1}) == {"200000172": 1, "234500023": 0}
    # 1.5, 3.5, 5: one unit left, a and b tie at .5, a wins
    assert largest_remainder(10, {"a": 0.15, "b": 0.35, "c": 0.5}) == {"a": 2, "b": 3, "c": 5}


def test_largest_remainder_gives_the_largest_remainders_first():
    # 1.43, 2.86, 5.71: floors 1, 2, 5; the two units left go to .86 and .71
    assert largest_remainder(10, {"a": 1, "b": 2, "c": 4}) == {"a": 1, "b": 3, "c": 6}


def test_largest_remainder_zero_weights():
    assert largest_remainder(5, {"a": 0, "b": 1}) == {"a": 0, "b": 5}
    assert largest_remainder(5, {"a": 0, "b": 0}) == {"a": 0, "b": 0}
    assert largest_remainder(5, {}) == {}


def test_weighted_by_hand_with_the_set_aside():
    a = apportion(POLICIES["weighted"], 300_000, [Member("a", 1), Member("b", 2)])
    assert a.shares == {"a": 95_000, "b": 190_000, UNATTRIBUTED: 15_000}


def test_equal_counts_partial_members_pro_rata_and_ignores_weights():
    a = apportion(POLICIES["equal"], 300, [Member("a", 9), Member("b", 1), Member("c", 1, active_fraction=0.5)],
                  NO_SET_ASIDE)
    assert a.shares == {"a": 120, "b": 120, "c": 60}


def test_reserved_by_hand():
    # 1000: 50 aside; 950 x 0.5 = 475 guaranteed, 1:3 -> 118.75 and 356.25; burst 475
    a = apportion(POLICIES["reserved"], 1000, [Member("a", 1), Member("b", 3)])
    assert a.shares == {"a": 119, "b": 356, UNATTRIBUTED: 50}
    assert a.burst == 475 and a.total == 1000


def test_reserved_without_weight_keeps_everything_in_the_burst():
    a = apportion(POLICIES["reserved"], 1000, [Member("a", 0)], NO_SET_ASIDE)
    assert a.shares == {"a": 0} and a.burst == 1000


def test_set_aside_uses_the_fraction_as_written():
    assert fraction_of(100, 0.29) == 29  # 100 * 0.29 == 28.999999999999996 in floats
    assert apportion(POLICIES["equal"], 100, [Member("a", 1)], Params(unattributed_share=0.29)).shares == \
        {"a": 71, UNATTRIBUTED: 29}


def test_nobody_active():
    for name in POLICIES:
        a = apportion(POLICIES[name], 1000, [])
        assert a.total <= 1000 and member_sum(a) == 0


# errors


@pytest.mark.parametrize("members, named", [
    ([Member("a", 1), Member("a", 2)], "'a' appears twice"),
    ([Member(UNATTRIBUTED, 1)], "'unattributed' has an id"),
    ([Member("b", -1)], "'b' has weight -1"),
    ([Member("c", float("nan"))], "'c' has weight nan"),
    ([Member("d", 1, -5)], "'d' has demand -5"),
    ([Member("e", 1, active_fraction=1.5)], "'e' has active fraction 1.5"),
])
def test_bad_members_are_an_allocation_error_naming_them(members, named):
    with pytest.raises(AllocationError, match=named) as err:
        apportion(POLICIES["weighted"], 100, members)
    assert err.value.details


def test_bad_cap_is_an_allocation_error():
    with pytest.raises(AllocationError, match="cap"):
        apportion(POLICIES["weighted"], -1, [])


def test_a_policy_that_breaks_the_rules_is_caught():
    class Greedy:
        name = "greedy"

        def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
            return Allotment({m.id: cap for m in members})

    with pytest.raises(AllocationError, match="more than the cap"):
        apportion(Greedy(), 100, [Member("a", 1), Member("b", 1)])


def test_policy_registry():
    assert list(POLICIES) == ["none", "equal", "weighted", "reserved", "max_min_fair", "elastic"]
    assert policy_named("weighted").name == "weighted"
    with pytest.raises(AllocationError, match="unknown allocation policy 'random'"):
        policy_named("random")
    assert not is_apportioned("dataset_records") and is_apportioned("records") and is_apportioned("api_calls")
    assert "dataset_records" not in APPORTIONED_METRICS


# members: pro rata at month edges and across DST


def record(sid="a", joined="2020-01-01", left=None, population=1000, weight=1):
    return {"id": sid, "name": f"Commune {sid}", "kind": "commune", "population": population, "weight": weight,
            "joined_at": joined, "left_at": left}


def month(y, m, tz=PARIS):
    return Period("month", date(y, m, 1), tz)


def test_joined_on_the_16th_of_a_31_day_month():
    assert active_fraction(record(joined="2026-01-16"), month(2026, 1)) == 16 / 31


def test_joined_on_the_16th_of_march_counts_the_lost_dst_hour():
    # 16 days from local midnight on 16 March, one of them (29 March) 23 hours long, of 743 hours
    assert active_fraction(record(joined="2026-03-16"), month(2026, 3)) == (16 * 24 - 1) / 743


def test_left_on_march_29_in_paris():
    # active 1-28 March (672 hours), before the change; the month has 743
    assert active_fraction(record(left="2026-03-29"), month(2026, 3)) == 672 / 743
    assert active_fraction(record(left="2026-03-30"), month(2026, 3)) == (29 * 24 - 1) / 743


def test_joined_on_the_16th_of_october_counts_the_extra_hour():
    assert active_fraction(record(joined="2026-10-16"), month(2026, 10)) == (16 * 24 + 1) / 745


def test_active_fraction_at_the_edges():
    p = month(2026, 3)
    assert active_fraction(record(joined="2026-03-01"), p) == 1.0
    assert active_fraction(record(left="2026-04-01"), p) == 1.0
    assert active_fraction(record(left="2026-03-01"), p) == 0.0
    assert active_fraction(record(joined="2026-04-01"), p) == 0.0
    assert active_fraction(record(joined="2026-03-10", left="2026-03-10"), p) == 0.0
    assert active_fraction(record(), Period("day", date(2026, 3, 29), PARIS)) == 1.0


def test_active_fraction_uses_the_period_time_zone():
    new_york = ZoneInfo("America/New_York")  # DST began on 8 March 2026
    assert active_fraction(record(joined="2026-03-16"), month(2026, 3, new_york)) == (16 * 24) / 743


def test_members_for_weights_pro_rata_and_drops_the_inactive():
    records = [record("b", joined="2026-01-16", population=3100), record("a", population=500),
               record("gone", left="2025-12-01"), record("later", joined="2026-02-01")]
    found = members_for(records, month(2026, 1), "population", {"a": 42})
    assert found == [Member("a", 500.0, 42, 1.0), Member("b", 3100 * 16 / 31, None, 16 / 31)]


def test_members_for_by_declared_weight():
    records = [record("a", weight=2.5, population=None), {**record("b", population=None), "weight": None}]
    assert [m.weight for m in members_for(records, month(2026, 1), "weight")] == [2.5, 1.0]


def test_missing_population_is_an_error_naming_every_one():
    records = [record("a"), record("c", population=None), record("b", population=None),
               record("gone", population=None, left="2025-01-01")]
    with pytest.raises(AllocationError) as err:
        members_for(records, month(2026, 1), "population")
    assert "'b' (Commune b), 'c' (Commune c)" in err.value.message
    assert "gone" not in err.value.message
    assert [d["signatory"] for d in err.value.details] == ["b", "c"]


# demand


def test_forecast_is_the_mean_of_the_last_three_plus_ten_percent():
    assert forecast({"a": [100, 200, 300, 400]}) == {"a": 330}
    assert forecast({"a": [101]}) == {"a": 112}  # rounded up


def test_forecast_floor_keeps_a_quiet_signatory_alive_and_leaves_newcomers_unbounded():
    found = forecast({"quiet": [0, 0, 0], "b": [1000] * 3, "c": [2000] * 3, "new": []})
    assert found == {"quiet": 110, "b": 1100, "c": 2200}  # floor: a tenth of the mean forecast
    assert forecast({}) == {}


def test_forecast_rejects_negative_usage_naming_the_signatory():
    with pytest.raises(AllocationError, match="'x'"):
        forecast({"x": [1, -1]})


def test_overrides_win_and_none_means_unbounded():
    assert with_overrides({"a": 10, "b": 20}, {"b": 5, "c": None}) == {"a": 10, "b": 5, "c": None}
    with pytest.raises(AllocationError, match="z"):
        with_overrides({}, {"z": -1})


def test_forecast_feeds_max_min_and_a_newcomer_gets_the_common_level():
    demand = with_overrides(forecast({"a": [10, 10, 10], "b": [500, 500, 500]}), {})
    members = [Member("a", 1, demand.get("a")), Member("b", 1, demand.get("b")), Member("new", 1, demand.get("new"))]
    # a: ceil(10 x 1.1) = 11, raised to the floor ceil((11 + 550) / 2 / 10) = 29; b: 550; new: unbounded.
    # a is met; 271 left: 135.5 each for b and new, the half unit to the smaller id
    assert demand == {"a": 29, "b": 550}
    assert apportion(POLICIES["max_min_fair"], 300, members, NO_SET_ASIDE).shares == {"a": 29, "b": 136, "new": 135}


# explanation


def sample():
    members = [Member("a", 1, 10, 0.5), Member("b", 2, 1000), Member("c", 1, None), Member("d", 1, 5, 0.25),
               Member("e", 1, 5, 0.1), Member("f", 1, 5, 0.2)]
    return members


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("name", list(POLICIES))
def test_explanation_in_both_languages(name, lang):
    members = sample()
    a = apportion(POLICIES[name], 300_000, members)
    text = explanation(name, "api_calls", "2026-03", 300_000, members, a, Params(), lang, {"a": "Chartres"})
    assert text.startswith("API calls, 2026-03" if lang == "en" else "Appels API, 2026-03")
    if name == "none":
        assert "only the pool's cap" in text or "seul le plafond" in text
        return
    assert ("15,000 (5%)" if lang == "en" else "15\u202f000 (5\u00a0%)") in text
    assert ("6 active signatories" if lang == "en" else "6 signataires actifs") in text
    assert "Chartres (50" in text and "d (25" in text and "e (10" in text and "f (20" not in text  # 3 examples


def test_explanation_of_reserved_names_the_burst():
    members = sample()
    a = apportion(POLICIES["reserved"], 300_000, members)
    assert "142,500 form a common burst reserve" in explanation("reserved", "api_calls", "2026-03", 300_000,
                                                                 members, a, Params())
    fr = explanation("reserved", "api_calls", "2026-03", 300_000, members, a, Params(), "fr")
    assert "142\u202f500 autres forment une réserve commune" in fr


def test_explanation_of_max_min_names_capped_and_short_demands():
    members = sample()
    a = apportion(POLICIES["max_min_fair"], 300_000, members)
    text = explanation("max_min_fair", "api_calls", "2026-03", 300_000, members, a, Params())
    assert "5 signatories get their whole forecast" in text
    assert "1 signatory has no forecast yet" in text
    assert "Below their forecast" not in text
    tight = apportion(POLICIES["max_min_fair"], 500, members, NO_SET_ASIDE)
    text = explanation("max_min_fair", "api_calls", "2026-03", 500, members, tight, NO_SET_ASIDE)
    assert "Below their forecast: b (" in text and "of 1,000)" in text


def test_explanation_of_idle_capacity_and_per_dataset_caps():
    members = [Member("a", 1, 10)]
    a = apportion(POLICIES["max_min_fair"], 100, members, NO_SET_ASIDE)
    assert "90 stay unallotted" in explanation("max_min_fair", "api_calls", "2026-03", 100, members, a, NO_SET_ASIDE)
    text = explanation("weighted", "dataset_records", "2026-03", 300_000, members, a, Params(), "fr")
    assert "n'est jamais réparti" in text
