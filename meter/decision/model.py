"""What a decision is asked and what it answers; validation of check and reservation bodies."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meter.errors import InvalidRequest
from meter.ingest.validation import MAX_ID, MAX_NAME, MAX_SUBJECT
from meter.settings import MAX_INT, METRICS

MAX_TTL_S = 7 * 86_400
MAX_CHECKS = 1_000  # per batch: Redis runs a batch in one script, blocking others while it runs


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


class _Problems:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[dict[str, str]] = []

    def add(self, name: str, reason: str) -> None:
        self.items.append({"field": f"{self.prefix}{name}", "reason": reason})


def _text(body: dict, name: str, p: _Problems, limit: int, required: bool) -> str:
    value = body.get(name)
    if value is None:
        if required:
            p.add(name, "is required")
        return ""
    if not isinstance(value, str) or not value or not value.isprintable():
        p.add(name, "must be a non-empty printable string")
        return ""
    if len(value) > limit:
        p.add(name, f"must be at most {limit} characters")
        return ""
    return value


def _int(body: dict, name: str, p: _Problems, default: int | None, minimum: int, maximum: int = MAX_INT) -> int:
    value = body.get(name, default)
    if value is None:
        p.add(name, "is required")
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        p.add(name, f"must be an integer from {minimum} to {maximum}")
        return 0
    return value


def _common(body: Any, p: _Problems, allowed: set[str]) -> dict | None:
    if not isinstance(body, dict):
        p.add("", "must be a JSON object")
        return None
    for unknown in sorted(set(body) - allowed):
        p.add(unknown, "is not a known field")
    metric = body.get("metric")
    if not isinstance(metric, str) or metric not in METRICS:
        p.add("metric", f"must be one of {', '.join(METRICS)}")
    if metric == "dataset_records" and not body.get("dataset"):
        p.add("dataset", "is required for dataset_records (a per-dataset cap)")
    return body


def parse_check(body: Any, prefix: str = "") -> tuple[Ask | None, list[dict]]:
    p = _Problems(prefix)
    fields = {"signatory", "metric", "amount", "dataset", "consume", "id"}
    if _common(body, p, fields) is None:
        return None, p.items
    consume = body.get("consume", True)
    if not isinstance(consume, bool):
        p.add("consume", "must be true or false")
    values: dict[str, Any] = dict(
        amount=_int(body, "amount", p, 1, 0), signatory=_text(body, "signatory", p, MAX_SUBJECT, True),
        dataset=_text(body, "dataset", p, MAX_NAME, False), id=_text(body, "id", p, MAX_ID, False))
    if p.items:  # the Ask is built from valid fields only
        return None, p.items
    return Ask(metric=body["metric"], consume=consume is not False, **values), p.items


def parse_checks(body: Any) -> tuple[list[Ask], bool]:
    """One check or a JSON array of them; every problem named, each with its index."""
    if isinstance(body, list):
        if not body:
            raise InvalidRequest("the batch is empty", [{"field": "", "reason": "no checks"}])
        if len(body) > MAX_CHECKS:  # one script call decides a batch: it must stay short
            raise InvalidRequest(f"a batch holds at most {MAX_CHECKS} checks",
                                 [{"field": "", "reason": f"{len(body)} checks"}])
        parsed = [parse_check(item, f"[{i}].") for i, item in enumerate(body)]
        problems = [d for _, items in parsed for d in items]
        if problems:
            raise InvalidRequest(f"{len(problems)} problem(s) in the batch; nothing was decided", problems)
        return [a for a, _ in parsed if a is not None], True
    ask, problems = parse_check(body)
    if ask is None:
        raise InvalidRequest("the check is invalid", problems)
    return [ask], False


def parse_reservation(body: Any, reserve_id: str) -> Ask:
    p = _Problems("")
    fields = {"signatory", "metric", "amount", "dataset", "ttl_s"}
    if _common(body, p, fields) is None:
        raise InvalidRequest("the reservation is invalid", p.items)
    values: dict[str, Any] = dict(
        amount=_int(body, "amount", p, None, 1), signatory=_text(body, "signatory", p, MAX_SUBJECT, True),
        dataset=_text(body, "dataset", p, MAX_NAME, False), reserve_ttl_s=_int(body, "ttl_s", p, 900, 1, MAX_TTL_S))
    if p.items:
        raise InvalidRequest("the reservation is invalid", p.items)
    return Ask(metric=body["metric"], consume=False, reserve_id=reserve_id, **values)


def parse_commit(body: Any) -> int:
    p = _Problems("")
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", [{"field": "", "reason": "not an object"}])
    amount = _int(body, "amount", p, None, 0)
    for unknown in sorted(set(body) - {"amount"}):
        p.add(unknown, "is not a known field")
    if p.items:
        raise InvalidRequest("the commit is invalid", p.items)
    return amount
