"""Largest-remainder rounding (Hamilton's method), in exact arithmetic.

Shares are computed as ``Fraction``s (a float weight converts to one exactly), so the result
does not depend on the order in which floats would have been added: the same members in any
order give the same integers. Each share is floored, then the units left go one each to the
largest remainders, ties to the smaller id. Rounding never adds: the integers sum to the
floor of the exact total.

Hamilton's method is not house-monotone (the "Alabama paradox"): raising the total by one can
take a unit from a member whose exact share grew. The difference is at most one unit; the
rule is the project's choice because it is the one people can check by hand.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction


def largest_remainder(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """``total`` split in proportion to ``weights``; sums to ``total`` exactly when a weight is > 0."""
    exact = {sid: Fraction(w) for sid, w in weights.items()}
    whole = sum(exact.values(), Fraction(0))
    if whole <= 0:
        return {sid: 0 for sid in weights}
    return round_exact({sid: total * w / whole for sid, w in exact.items()})


def round_exact(shares: Mapping[str, Fraction]) -> dict[str, int]:
    """Exact non-negative shares to integers: floors, then +1 to the largest remainders.

    A member whose share is already whole (a demand met in full, a zero weight) has no
    remainder and never gets a unit, so rounding cannot push anyone past a bound it reached.
    """
    result = {sid: math.floor(s) for sid, s in shares.items()}
    units = math.floor(sum(shares.values(), Fraction(0))) - sum(result.values())
    remainders = [(result[sid] - s, sid) for sid, s in shares.items() if s != result[sid]]
    for _, sid in sorted(remainders)[:units]:  # -remainder ascending = largest first; then id
        result[sid] += 1
    return result
