"""What a decision is asked (``Ask``) and what it answers (``Decision``).

Requests become asks at the edge (``meter.contract.checks``); the domain never sees a body.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

Scope = Literal["pool", "signatory", "dataset"]  # which limit a decision's figures describe


class Ask(NamedTuple):
    """One decision to take. ``signatory`` empty: found from ``host``, then ``dataset``.

    A NamedTuple, not a frozen dataclass: one is built for every check, and a frozen dataclass's
    ``__init__`` costs several times more."""

    metric: str
    amount: int = 1
    signatory: str = ""
    host: str = ""
    dataset: str = ""
    consume: bool = True
    id: str = ""
    reserve_id: str = ""  # set: hold the amount as a reservation instead of consuming it
    reserve_ttl_s: int = 0


@dataclass(slots=True)
class Decision:
    allowed: bool
    metric: str
    scope: str
    limit: int | None
    used: int | None
    remaining: int | None
    reset: str | None
    signatory: str
    reason: str | None = None
    degraded: str | None = None  # the fail mode applied when Redis could not decide
    replayed: bool = False
    shadow: bool = False
