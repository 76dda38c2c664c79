"""Policy ``elastic``: max-min fair guarantees, lent out as far as their owners' pace allows.

Each signatory's allotment is its ``max_min_fair`` share: its **guarantee**. What the policy adds
is in the enforcement (decide.lua, and ``meter.allocation.enforce`` for the simulator): a
signatory may always use its own guarantee, and beyond it may borrow what the others do not
keep **protected**. At elapsed fraction f of the period, signatory t keeps

    protected_t(f) = min(max(0, A_t - u_t), (1 - f) x A_t)

(A_t its guarantee, u_t its use so far): what a steady user of its guarantee would still need.
A quiet partner keeps its whole guarantee on day 1 and a shrinking part of it as the month goes
by; a partner on pace keeps everything it still needs; nothing is protected at the period's end,
so capacity nobody used is never lost for want of a borrower. A decision for s is allowed when
``u_s + amount <= A_s``, or else when ``pool_used + held + amount <= cap - sum_{t != s}
protected_t(f)``; the pool's cap stays hard.

Why this rule and not linear decay (protection = unused x (1 - f)): a light partner that uses
its guarantee steadily has, at f, unused = (1 - f) A, so linear decay protects (1 - f)^2 A,
less than the (1 - f) A it still needs from the first days on; heavy borrowers then take what
the light partner needs at the end of the month. The pace rule protects exactly that need.

Stocks have no period end to pace against: under ``elastic`` a stock's allotment is enforced
as a plain hard guarantee (what is stored stays stored; lending it would not come back).
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from meter.allocation.base import Allotment, Member, Params
from meter.allocation.max_min_fair import MaxMinFair


class Elastic:
    name = "elastic"

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        """The guarantees are exactly the max-min fair shares; lending happens at decision time."""
        result = MaxMinFair().allot(cap, members, params)
        result.notes.append("guarantees lent out beyond their owners' pace (elastic)")
        return result


def protected(allotment: int, used: int, elapsed: int, length: int) -> Fraction:
    """``protected_t(f)`` exactly, with f = elapsed / length (seconds; elapsed clamped to [0, length])."""
    if allotment <= 0 or length <= 0:
        return Fraction(0)
    elapsed = min(max(elapsed, 0), length)
    pace = Fraction(length - elapsed, length) * allotment
    return min(Fraction(max(0, allotment - used)), pace)


def others_protected(allotments: dict[str, int], used: dict[str, int], elapsed: int, length: int,
                     but: str | None = None) -> Fraction:
    """The sum the index stands for, computed the slow way (O(n)): the reference in tests."""
    return sum((protected(a, used.get(sid, 0), elapsed, length) for sid, a in allotments.items() if sid != but),
               Fraction(0))
