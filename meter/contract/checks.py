"""Check, reservation and commit bodies made into the decision's asks, through the contract's
models (``meter.contract.requests``); every problem named, by index in a batch."""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from meter.contract import fast_checks
from meter.contract.requests import CHECK, CHECKS, MAX_CHECKS, CheckRequest, CommitRequest, ReservationRequest
from meter.core.errors import Forbidden, InvalidRequest
from meter.core.problems import details
from meter.decision.model import Ask

_T = TypeVar("_T")
_RESERVATION = TypeAdapter(ReservationRequest)
_COMMIT = TypeAdapter(CommitRequest)


def _ask(req: CheckRequest) -> Ask:
    return Ask(metric=req.metric, amount=int(req.amount), signatory=req.signatory, dataset=req.dataset or "",
               consume=req.consume, id=req.id or "")


def parse_checks(body: Any) -> tuple[list[Ask], bool]:
    """One check or a JSON array of them (answered in order); every problem named, by index."""
    batch = isinstance(body, list)
    fast = fast_checks.asks(body if batch else [body], MAX_CHECKS if batch else 1)
    if fast is not None:  # the usual body, without a model per check
        return fast, batch
    return parse_checks_by_model(body)


def parse_checks_by_model(body: Any) -> tuple[list[Ask], bool]:
    """``parse_checks`` through the model only: what the fast path must answer the same as."""
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


def require_own(asks: list[Ask], bound: str) -> None:
    """403 naming each check that is not for ``bound``: nothing is decided."""
    wrong = [{"index": i, "field": "signatory", "reason": f"this token may only decide for {bound!r}"}
             for i, ask in enumerate(asks) if ask.signatory != bound]
    if wrong:
        raise Forbidden(f"this token is bound to signatory {bound!r}", wrong)
