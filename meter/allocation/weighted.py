"""Policy ``weighted``: the cap in proportion to each member's weight (population or declared weight)."""
from __future__ import annotations

from collections.abc import Sequence

from meter.allocation.base import Allotment, Member, Params, weights_of
from meter.allocation.rounding import largest_remainder


class Weighted:
    name = "weighted"

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        shares = largest_remainder(cap, weights_of(members))
        return Allotment(shares, notes=[f"{cap} split by weight among {len(members)} members"])
