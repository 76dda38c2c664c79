"""The allocation seam: what a policy is given, what it returns, and the checks around it.

A policy is pure maths: (cap, members, params) -> allotments, no I/O and no clock, so it can be
tested with hypothesis and replayed by the simulator. ``apportion`` is the one public entry (a
template method, as snuba's allocation policies wrap their subclass's maths): it validates the
input, sets the unattributed share aside, calls the policy on the rest and checks the result
before anybody enforces it. A policy that breaks an invariant is a bug; it must never turn into
allotments that exceed the cap.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from meter.config.settings import AllocationSection
from meter.core.errors import AllocationError  # noqa: F401  (re-exported: policies and callers import it from here)
from meter.registry.ids import UNATTRIBUTED


@dataclass(frozen=True)
class Member:
    """One active signatory as a policy sees it.

    ``weight`` already includes the active fraction (population or declared weight x active
    seconds / period seconds). ``active_fraction`` is carried for ``equal`` (which ignores
    weights but not partial periods) and for the explanation. ``demand`` is read by
    ``max_min_fair`` only; None means unbounded.
    """

    id: str
    weight: float
    demand: int | None = None
    active_fraction: float = 1.0


@dataclass(frozen=True)
class Params:
    """The allocation settings a policy (and its explanation) reads."""

    reserved_fraction: float = 0.5
    unattributed_share: float = 0.05
    weight_by: str = "population"  # only for the explanation: "population" or "weight"

    @classmethod
    def from_section(cls, section: AllocationSection) -> Params:
        return cls(section.reserved_fraction, section.unattributed_share, section.weight)


@dataclass
class Allotment:
    """Integer allotments per member id (plus ``unattributed``), and for ``reserved`` the burst reserve."""

    shares: dict[str, int]
    burst: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.shares.values()) + self.burst


class Policy(Protocol):
    """Turns a cap (already without the unattributed share) and members into allotments."""

    name: str

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        """Pure: the same input gives the same output, whatever the order of ``members``."""


def exact(value: float) -> Decimal:
    """A configured fraction as the decimal a person wrote (0.29, not 0.28999...)."""
    return Decimal(repr(float(value)))


def fraction_of(cap: int, share: float) -> int:
    """floor(cap x share), exact for the fractions people configure."""
    return math.floor(exact(share) * cap)


def apportion(policy: Policy, cap: int, members: Sequence[Member], params: Params = Params()) -> Allotment:
    """The template: validate, set aside the unattributed share, run the policy, check the result."""
    _check_input(cap, members, params)
    set_aside = 0 if policy.name == "none" else fraction_of(cap, params.unattributed_share)
    result = policy.allot(cap - set_aside, members, params)
    if set_aside > 0:
        result.shares[UNATTRIBUTED] = set_aside
        result.notes.insert(0, f"{set_aside} set aside for unattributed traffic")
    _check_result(policy.name, cap, members, result)
    return result


def _check_input(cap: int, members: Sequence[Member], params: Params) -> None:
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
        raise AllocationError(f"the cap must be an integer >= 0, not {cap!r}")
    if not 0 <= params.reserved_fraction <= 1 or not 0 <= params.unattributed_share < 1:
        raise AllocationError("reserved_fraction must be in [0, 1] and unattributed_share in [0, 1)")
    seen: set[str] = set()
    problems = []
    for member in members:
        if member.id in seen:
            problems.append({"field": "signatories", "signatory": member.id, "reason": "appears twice"})
        seen.add(member.id)
        problems.extend({"field": "signatories", "signatory": member.id, "reason": r} for r in _member_problems(member))
    if problems:
        text = "; ".join(f"signatory {p['signatory']!r} {p['reason']}" for p in problems)
        raise AllocationError(f"cannot apportion: {text}", problems)


def _member_problems(member: Member) -> list[str]:
    found = []
    if not member.id or member.id == UNATTRIBUTED:
        found.append(f"has an id that cannot hold an allotment ({member.id!r})")
    if not _finite_non_negative(member.weight):
        found.append(f"has weight {member.weight!r} (a finite number >= 0 is needed)")
    if not 0 <= member.active_fraction <= 1:
        found.append(f"has active fraction {member.active_fraction!r} (0 to 1)")
    demand: Any = member.demand
    if demand is not None and (not isinstance(demand, int) or isinstance(demand, bool) or demand < 0):
        found.append(f"has demand {demand!r} (an integer >= 0, or none for unbounded)")
    return found


def _finite_non_negative(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _check_result(name: str, cap: int, members: Sequence[Member], result: Allotment) -> None:
    """The invariants every policy owes: integers >= 0, known keys, nothing over the cap."""
    known = {m.id for m in members} | {UNATTRIBUTED}
    for sid, value in result.shares.items():
        if sid not in known:
            raise AllocationError(f"policy {name} gave an allotment to {sid!r}, which is not a member")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise AllocationError(f"policy {name} gave signatory {sid!r} the allotment {value!r}")
    if not isinstance(result.burst, int) or result.burst < 0:
        raise AllocationError(f"policy {name} gave a burst reserve of {result.burst!r}")
    if result.total > cap:
        raise AllocationError(f"policy {name} allotted {result.total}, more than the cap {cap}")


def weights_of(members: Sequence[Member]) -> Mapping[str, float]:
    return {m.id: m.weight for m in members}
