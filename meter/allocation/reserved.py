"""Policy ``reserved``: a guaranteed part of each weighted share, and a common burst reserve.

Each member is guaranteed ``reserved_fraction`` of its weighted share: floor(cap x fraction) is
split by weight with largest remainder. The rest of the cap is one burst reserve that any
member draws on once its guarantee is used, first come (the ledger enforces that order).
"""
from __future__ import annotations

from collections.abc import Sequence

from meter.allocation.base import Allotment, Member, Params, fraction_of, weights_of
from meter.allocation.rounding import largest_remainder


class Reserved:
    name = "reserved"

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        guaranteed = fraction_of(cap, params.reserved_fraction) if _any_weight(members) else 0
        shares = largest_remainder(guaranteed, weights_of(members))
        burst = cap - guaranteed
        notes = [f"{guaranteed} guaranteed by weight, {burst} in the burst reserve"]
        return Allotment(shares, burst=burst, notes=notes)


def _any_weight(members: Sequence[Member]) -> bool:
    """With nobody to guarantee anything to, the whole cap stays in the burst reserve."""
    return any(m.weight > 0 for m in members)
