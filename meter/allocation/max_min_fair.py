"""Policy ``max_min_fair``: weighted water-filling on demand.

Raise a common level L; each member gets min(demand, L x weight), and L stops where the cap is
used up (or every demand is met). Nobody gets more than it demands, and what the satisfied
leave is shared among the rest by weight. A member without a demand (None) is unbounded; a
member of weight 0 gets nothing. When the demands add up to less than the cap, the difference
is left unallotted (with borrowing off, it is idle capacity the pool still enforces).

The exact shares are fractions; ``round_exact`` turns them into integers without exceeding any
demand: a member whose demand is met holds a whole number and so has no remainder to round up.

Worked example (cap 100, equal weights, demands a=10, b=50, c=None): the level starts at
100/3; a needs 10 < 33.3, so a gets 10 and 90 is left for b and c: 45 each; b needs 50 > 45,
so b gets 45 and c gets 45.
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from meter.allocation.base import Allotment, Member, Params
from meter.allocation.rounding import round_exact


class MaxMinFair:
    name = "max_min_fair"

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        exact = water_fill(cap, members)
        shares = round_exact(exact)
        return Allotment(shares, notes=_notes(cap, members, shares))


def water_fill(cap: int, members: Sequence[Member]) -> dict[str, Fraction]:
    """Exact weighted max-min fair shares; their sum is min(cap, total demand of weighted members)."""
    shares = {m.id: Fraction(0) for m in members}
    left = Fraction(cap)
    waiting = sorted((m for m in members if m.weight > 0), key=_need_per_weight)
    weight_left = sum((Fraction(m.weight) for m in waiting), Fraction(0))
    for i, member in enumerate(waiting):
        level = left / weight_left
        if member.demand is not None and member.demand <= level * Fraction(member.weight):
            shares[member.id] = Fraction(member.demand)
            left -= member.demand
            weight_left -= Fraction(member.weight)
            continue
        for rest in waiting[i:]:  # the level no longer moves: everyone left is capped by it
            shares[rest.id] = level * Fraction(rest.weight)
        break
    return shares


def _need_per_weight(member: Member) -> tuple[bool, Fraction, str]:
    """Sort key: who is satisfied first (least demand per unit of weight); unbounded last; then id."""
    if member.demand is None:
        return (True, Fraction(0), member.id)
    return (False, Fraction(member.demand) / Fraction(member.weight), member.id)


def _notes(cap: int, members: Sequence[Member], shares: dict[str, int]) -> list[str]:
    met = sorted(m.id for m in members if m.demand is not None and m.weight > 0 and shares[m.id] == m.demand)
    notes = [f"demand met in full: {', '.join(met) or 'nobody'}"]
    idle = cap - sum(shares.values())
    if idle:
        notes.append(f"{idle} left unallotted: demand is below the cap")
    return notes
