"""Policy ``none`` (the default): no allotments; only the pool's caps are enforced.

Usage is still metered and reported per signatory; nothing is set aside for unattributed traffic.
"""
from __future__ import annotations

from collections.abc import Sequence

from meter.allocation.base import Allotment, Member, Params


class NoPolicy:
    name = "none"

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        return Allotment(shares={}, notes=[f"no allotments: only the pool cap of {cap} is enforced"])
