"""pydantic's validation errors in the contract's words: ``{"index"?, "field", "reason"}``; the one
translator, for request models, events and signatory bodies alike.

``index`` is the 0-based item of a batch (an event, a check); ``field`` a dotted path inside it
(``data.count``, ``signatories[2].weight``); ``reason`` says what the rule is.

An answer names at most ``MAX_PROBLEMS`` of them, each text cut to ``MAX_TEXT`` characters, then
``{"more": N}`` (``bounded``): an error answer stays under 64 KiB whatever the input (DESIGN §4).
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

MAX_PROBLEMS = 100
MAX_TEXT = 160  # characters of a field path or a reason (an unknown field's name is the client's own)
MAX_MESSAGE = 1000

_REASONS = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
}


# an integer field is "a strict int or a whole float" (meter.contract.fields.Int): one problem
# is reported, the one of the branch the input's type picks
def _branch(step: int | str) -> str | None:
    """'int' or 'float' for a step that names a branch of ``Int``, else None."""
    if isinstance(step, str):
        for kind in ("int", "float"):
            if f"constrained-{kind}" in step:
                return kind
    return None


def _other_branch(loc: tuple[int | str, ...], value: Any) -> bool:
    mine = "float" if isinstance(value, float) else "int"
    return any(_branch(step) not in (None, mine) for step in loc)


def path(loc: tuple[int | str, ...]) -> str:
    """``signatories[0].id`` for ('signatories', 0, 'id')."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def reason(error: Any, known: tuple[str, ...] = ()) -> str:
    if error["type"] == "extra_forbidden" and known:
        return f"is not a known field (known: {', '.join(known)})"
    if error["type"] == "string_pattern_mismatch":
        return "must not contain control characters" if "\\x00" in str(error["ctx"]["pattern"]) \
            else f"must match {error['ctx']['pattern']}"
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return _REASONS.get(error["type"], str(error["msg"]))


def details(exc: ValidationError, batch: bool = False, tags: frozenset[str] = frozenset(),
            whole: str = "", known: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every problem of ``exc``; ``batch``: the first step of each location is the item's index.

    ``tags`` are the steps a discriminated union adds to a location (an event's type): a person
    reads ``data.count``, not ``api.call.data.count``. ``whole`` names the field a model-level rule
    is about; ``known`` lists the fields an unknown one is told of.
    """
    out: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if _other_branch(loc, error["input"]):
            continue
        loc = tuple(step for step in loc if _branch(step) is None)
        item: dict[str, Any] = {}
        if batch and loc and isinstance(loc[0], int):
            item["index"], loc = loc[0], loc[1:]
        loc = tuple(step for step in loc if step not in tags)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, "type")
        item["field"] = path(loc) or (whole if error["type"] == "value_error" else "")
        item["reason"] = reason(error, known)
        out.append(item)
    return out


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def bounded(problems: list[dict[str, Any]], omitted: int = 0) -> list[dict[str, Any]]:
    """The first ``MAX_PROBLEMS`` problems, their texts clipped, then ``{"more": N}`` if any was left
    out (``omitted`` counts those left out before the list was built)."""
    shown = [{k: clip(v) if isinstance(v, str) else v for k, v in p.items()} for p in problems[:MAX_PROBLEMS]]
    more = omitted + max(0, len(problems) - MAX_PROBLEMS)
    return [*shown, {"more": more}] if more else shown
