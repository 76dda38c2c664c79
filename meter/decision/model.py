"""What a decision is asked and what it answers; check and reservation bodies made into asks.

The bodies are validated by the contract's models (``meter.contract.requests``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from meter.contract.problems import details
from meter.contract.requests import CHECK, CHECKS, CheckRequest, CommitRequest, ReservationRequest
from meter.core.errors import InvalidRequest

_T = TypeVar("_T")
_RESERVATION = TypeAdapter(ReservationRequest)
_COMMIT = TypeAdapter(CommitRequest)


@dataclass(frozen=True, slots=True)
class Ask:
    """One decision to take. ``signatory`` empty: found from ``host``, then ``dataset``."""

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
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"allowed": self.allowed, "metric": self.metric, "scope": self.scope,
                               "limit": self.limit, "used": self.used, "remaining": self.remaining,
                               "reset": self.reset, "signatory": self.signatory}
        if self.reason:
            out["reason"] = self.reason
        out.update(self.extra)
        return out


def _ask(req: CheckRequest) -> Ask:
    return Ask(metric=req.metric, amount=int(req.amount), signatory=req.signatory, dataset=req.dataset or "",
               consume=req.consume, id=req.id or "")


def parse_checks(body: Any) -> tuple[list[Ask], bool]:
    """One check or a JSON array of them (answered in order); every problem named, by index."""
    batch = isinstance(body, list)
    try:
        checks = CHECKS.validate_python(body) if batch else [CHECK.validate_python(body)]
    except ValidationError as exc:
        problems = details(exc, batch=batch, whole="dataset")
        raise InvalidRequest(f"{len(problems)} problem(s) in the check(s); nothing was decided", problems) from None
    return [_ask(c) for c in checks], batch


def _validated(adapter: TypeAdapter[_T], body: Any, what: str) -> _T:
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        raise InvalidRequest(f"the {what} is invalid", details(exc, whole="dataset")) from None


def parse_reservation(body: Any, reserve_id: str) -> Ask:
    req = _validated(_RESERVATION, body, "reservation")
    return Ask(metric=req.metric, amount=int(req.amount), signatory=req.signatory, dataset=req.dataset or "",
               consume=False, reserve_id=reserve_id, reserve_ttl_s=int(req.ttl_s))


def parse_commit(body: Any) -> int:
    return int(_validated(_COMMIT, body, "commit").amount)
