"""Policy ``equal``: the cap split evenly among the active signatories.

Weights are ignored, partial periods are not: a signatory active for half the month counts as
half a member, as the design's pro-rata rule asks of every policy.
"""
from __future__ import annotations

from collections.abc import Sequence

from meter.allocation.base import Allotment, Member, Params
from meter.allocation.rounding import largest_remainder


class Equal:
    name = "equal"

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        shares = largest_remainder(cap, {m.id: m.active_fraction for m in members})
        return Allotment(shares, notes=[f"{cap} split evenly among {len(members)} members, pro rata"])
