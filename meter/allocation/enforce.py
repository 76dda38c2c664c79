"""The service's enforcement rules in Python, for the simulator (which runs with no Redis).

decide.lua is the enforcement; this is its twin for one flow metric in one period, and
tests/test_elastic_index.py runs both on the same cases and holds their answers equal. Per
call, as decide.lua: the pool's cap is hard; a signatory's allotment is hard (policies that
allot); under ``reserved`` the guarantee, then the common burst reserve, first come; under
``elastic`` the guarantee, or else what the others' protection leaves (``meter.allocation
.elastic``), kept in a ``ProtectionIndex`` built as the script's index is.

``serve(sid, n, elapsed)`` answers n calls of one unit in a row at one instant: it returns how
many are allowed, which is what n single checks return, since each constraint only tightens as
the signatory's own use grows.
"""
from __future__ import annotations

import heapq
from collections.abc import Mapping
from fractions import Fraction


class ProtectionIndex:
    """sum_t protected_t(f) without a scan: three groups and two running sums, as in decide.lua (elastic.lua).

    'b' (behind pace, u T < e A): contributes (1 - f) A, summed as ``sa``; 'm' (on or ahead of
    pace, u < A): A - u, summed as ``sx``, and kept in a heap by u / A so that time can move
    them to 'b'; 'z' (used up): 0. The sum is ((T - e) sa + T sx) / T, exactly.
    """

    def __init__(self, allotments: Mapping[str, int], length: int) -> None:
        self.allotments = {sid: a for sid, a in allotments.items() if a > 0}
        self.length = max(length, 1)
        self.elapsed = 0
        self.sa = self.sx = 0
        self.group: dict[str, str] = {}
        self.used: dict[str, int] = {}
        self._ahead: list[tuple[Fraction, str, int]] = []  # (u / A, sid, u); stale entries are skipped
        for sid in self.allotments:
            self.update(sid, 0)

    def advance(self, elapsed: int) -> None:
        """Time moves on (never back): members the pace has passed join 'b'."""
        self.elapsed = min(max(self.elapsed, elapsed), self.length)
        bound = Fraction(self.elapsed, self.length)
        while self._ahead and self._ahead[0][0] < bound:
            _, sid, u = heapq.heappop(self._ahead)
            if self.group.get(sid) == "m" and self.used[sid] == u:
                self._move(sid, "b", u)

    def update(self, sid: str, used: int) -> None:
        """A member's use changed (the deciding signatory, after its decision)."""
        a = self.allotments.get(sid, 0)
        if a <= 0:
            return
        self._move(sid, self._class(used, a), used)

    def others_ceil(self, sid: str) -> int:
        """ceil(sum over t != sid of protected_t): what borrowing must leave in the pool."""
        total = (self.length - self.elapsed) * self.sa + self.length * self.sx - self._own(sid)
        return -(-total // self.length)

    def total(self) -> Fraction:
        return Fraction((self.length - self.elapsed) * self.sa + self.length * self.sx, self.length)

    def _class(self, used: int, a: int) -> str:
        if used >= a:
            return "z"
        return "b" if used * self.length < self.elapsed * a else "m"

    def _own(self, sid: str) -> int:
        a, group = self.allotments.get(sid, 0), self.group.get(sid)
        if group == "b":
            return (self.length - self.elapsed) * a
        return self.length * (a - self.used[sid]) if group == "m" else 0

    def _move(self, sid: str, group: str, used: int) -> None:
        a = self.allotments[sid]
        old = self.group.get(sid)
        if old is not None:
            self._add(old, a, self.used[sid], -1)
        self._add(group, a, used, 1)
        self.group[sid], self.used[sid] = group, used
        if group == "m":
            heapq.heappush(self._ahead, (Fraction(used, a), sid, used))

    def _add(self, group: str, a: int, used: int, sign: int) -> None:
        if group == "b":
            self.sa += sign * a
        elif group == "m":
            self.sx += sign * (a - used)


class Ledger:
    """One flow metric's counters for one period, consumed as decide.lua consumes them."""

    def __init__(self, cap: int, shares: Mapping[str, int] | None = None, burst: int | None = None,
                 elastic_length: int | None = None) -> None:
        self.cap = cap
        self.pool = 0
        self.shares = dict(shares) if shares is not None else None
        self.used: dict[str, int] = {}
        self.burst_cap, self.burst_used = burst, 0
        self.index = ProtectionIndex(self.shares or {}, elastic_length) if elastic_length is not None else None

    def serve(self, sid: str, n: int, elapsed: int = 0) -> int:
        """Calls allowed of ``n`` single calls of ``sid`` at ``elapsed`` seconds into the period."""
        used = self.used.get(sid, 0)
        allowed = max(0, min(n, self.cap - self.pool, self._room(sid, used, elapsed)))
        self.used[sid] = used + allowed
        self.pool += allowed
        if self.burst_cap is not None:
            own = self.shares.get(sid, 0) if self.shares else 0
            self.burst_used += max(0, used + allowed - own) - max(0, used - own)
        if self.index is not None:
            self.index.update(sid, used + allowed)
        return allowed

    def _room(self, sid: str, used: int, elapsed: int) -> int:
        """What the signatory's own constraint lets through (the pool's is applied by the caller)."""
        if self.shares is None:
            return self.cap
        own = self.shares.get(sid, 0)
        if self.index is not None:
            self.index.advance(elapsed)
            return max(own - used, self.cap - self.pool - self.index.others_ceil(sid))
        if self.burst_cap is not None:  # the guarantee, then the burst reserve, first come
            return own + max(0, self.burst_cap - self.burst_used) + max(0, used - own) - used
        return own - used
