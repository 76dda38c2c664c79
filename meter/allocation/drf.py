"""Dominant-resource fairness (DRF) over the stocks, for ``stocks = "drf"``.

A partner's stocks come together: a dataset's records bring its raw bytes, its attachments
their content bytes. Apportioned one metric at a time, a signatory may get records it cannot use
for want of the raw bytes it was refused, while another is refused those very records. DRF
apportions the demand *vectors* instead: each signatory gets a fraction of its own vector, and
the water level is on the **dominant share** (the largest fraction of any cap the vector
takes), weighted, as ``max_min_fair`` is on one metric: nobody gets more than its demand, and
what the satisfied leave goes to the rest until a cap is used up.

Exact: shares are ``Fraction``s, then each metric is rounded with largest remainder
(``round_exact``), so a vector met in full is whole and no cap is passed.

Worked example (caps: records 900, raw_bytes 1800; equal weights). a asks (900, 300): shares of
the caps (1, 1/6), dominant 1 (records). b asks (150, 1800): shares (1/6, 1), dominant 1 (raw).
Raising both dominant shares to L takes L x (1 + 1/6) of each cap, so both caps fill at L =
6/7: a gets (771 3/7, 257 1/7), b (128 4/7, 1542 6/7); every record and byte is used and both
get 6/7 of what they asked. One metric at a time, max-min gives a 750 records and b 1500 bytes;
a can use only 5/6 of its vector (750 of 900 records), so 50 of its 300 bytes lie idle, and b
likewise leaves 25 records idle: both get 5/6 while capacity they were refused stays unused.

A signatory with no demand vector (or a missing component) is unbounded: it asks an equal share
of every cap. Weight 0 gets nothing. A cap of 0 gives nothing of that metric to anyone, and is
left out of dominant shares.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from meter.allocation.base import Allotment, Member, Params, fraction_of
from meter.allocation.rounding import round_exact

STOCKS = ("records", "raw_bytes", "content_bytes")


@dataclass(frozen=True)
class Claim:
    """One signatory's demand vector (metric -> amount; None = unbounded) and weight."""

    id: str
    weight: float
    demand: Mapping[str, int] | None = None


def drf(caps: Mapping[str, int], claims: Sequence[Claim]) -> dict[str, dict[str, int]]:
    """Integer allotments per metric and signatory: {metric: {id: amount}}; each sums to <= its cap."""
    exact = drf_exact(caps, claims)
    return {metric: round_exact({c.id: exact[c.id][metric] for c in claims}) for metric in caps}


def drf_exact(caps: Mapping[str, int], claims: Sequence[Claim]) -> dict[str, dict[str, Fraction]]:
    """Exact DRF shares {id: {metric: amount}} by weighted progressive filling on dominant shares."""
    live = [m for m, cap in caps.items() if cap > 0]
    units = {c.id: _unit(c, caps, live) for c in claims}
    level_of = {c.id: _dominant(c, caps, live) for c in claims}
    given = {c.id: Fraction(0) for c in claims}  # dominant share reached
    used = {m: Fraction(0) for m in live}  # fraction of each cap taken by those already stopped
    active = [c for c in claims if c.weight > 0 and level_of[c.id] != 0 and any(units[c.id].values())]
    while active:
        level, stopped = _next_stop(active, units, level_of, used, live)
        for c in stopped:
            reached, cap_of = level * Fraction(c.weight), level_of[c.id]
            given[c.id] = reached if cap_of is None else min(cap_of, reached)
            for m in live:
                used[m] += given[c.id] * units[c.id][m]
        active = [c for c in active if c not in stopped]
    return {c.id: {m: given[c.id] * units[c.id].get(m, Fraction(0)) * caps[m] for m in caps} for c in claims}


def _next_stop(active: list[Claim], units: dict[str, dict[str, Fraction]], level_of: dict[str, Fraction | None],
               used: dict[str, Fraction], live: list[str]) -> tuple[Fraction, list[Claim]]:
    """The next level at which someone stops (its demand met, or a cap it needs full), and who."""
    rate = {m: sum((Fraction(c.weight) * units[c.id][m] for c in active), Fraction(0)) for m in live}
    full = {m: (1 - used[m]) / rate[m] for m in live if rate[m] > 0}
    met = {c.id: top / Fraction(c.weight) for c in active if (top := level_of[c.id]) is not None}
    level = min([*full.values(), *met.values()])
    saturated = {m for m, at in full.items() if at == level}
    stopped = [c for c in active if met.get(c.id) == level or any(units[c.id][m] > 0 for m in saturated)]
    return level, stopped


def _unit(claim: Claim, caps: Mapping[str, int], live: list[str]) -> dict[str, Fraction]:
    """Fraction of each cap taken per unit of dominant share."""
    if _unbounded(claim, live):
        return {m: Fraction(1) for m in live}
    shares = {m: Fraction(claim.demand[m], caps[m]) for m in live}  # type: ignore[index]
    top = max(shares.values(), default=Fraction(0))
    return {m: (s / top if top else Fraction(0)) for m, s in shares.items()}


def _dominant(claim: Claim, caps: Mapping[str, int], live: list[str]) -> Fraction | None:
    """The dominant share of the whole demand (None: unbounded)."""
    if _unbounded(claim, live):
        return None
    return max((Fraction(claim.demand[m], caps[m]) for m in live), default=Fraction(0))  # type: ignore[index]


def _unbounded(claim: Claim, live: list[str]) -> bool:
    return claim.demand is None or any(claim.demand.get(m) is None for m in live)


def dominant_shares(caps: Mapping[str, int], allotted: Mapping[str, Mapping[str, int]],
                    demand: Mapping[str, Mapping[str, int]]) -> dict[str, Fraction]:
    """What each signatory can use of its vector (the least met component), as a dominant share:
    the yardstick by which the stock scenario compares DRF with one metric at a time."""
    found = {}
    for sid, asked in demand.items():
        live = [m for m in caps if caps[m] > 0 and asked.get(m, 0) > 0]
        if not live:
            continue
        usable = min(Fraction(allotted[m].get(sid, 0), asked[m]) for m in live)
        found[sid] = min(usable, Fraction(1)) * max(Fraction(asked[m], caps[m]) for m in live)
    return found


class Joint:
    """A policy whose shares were computed jointly beforehand (DRF), so that ``apportion`` still
    validates the input, sets the unattributed share aside and checks the result."""

    def __init__(self, name: str, shares: Mapping[str, int]) -> None:
        self.name = name
        self.shares = dict(shares)

    def allot(self, cap: int, members: Sequence[Member], params: Params) -> Allotment:
        return Allotment({m.id: self.shares.get(m.id, 0) for m in members},
                         notes=["stocks apportioned jointly (dominant-resource fairness)"])


def joint_policies(name: str, caps: Mapping[str, int], members: Mapping[str, Sequence[Member]],
                   params: Params) -> dict[str, Joint]:
    """Per stock metric, the DRF shares of what is left once the unattributed share is set aside.

    ``members``: per metric, the same signatories with that metric's demand.
    """
    net = {m: cap - (fraction_of(cap, params.unattributed_share) if name != "none" else 0) for m, cap in caps.items()}
    weights = {m.id: m.weight for per in members.values() for m in per}
    vectors: dict[str, dict[str, int | None]] = {sid: {} for sid in weights}
    for metric, per in members.items():
        for m in per:
            vectors[m.id][metric] = m.demand
    claims = [Claim(sid, w, _complete(vectors[sid])) for sid, w in sorted(weights.items())]
    shares = drf(net, claims)
    return {metric: Joint(name, shares[metric]) for metric in caps}


def _complete(vector: Mapping[str, int | None]) -> Mapping[str, int] | None:
    return None if any(v is None for v in vector.values()) else {m: v for m, v in vector.items() if v is not None}
