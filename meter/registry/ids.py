"""Signatory ids: a SIREN (9 digits, valid Luhn check digit) or a slug ``[a-z0-9-]{1,64}`` with a letter.

A slug must hold a letter so that a mistyped SIREN (8 or 10 digits, a wrong check digit) is
refused instead of silently becoming a slug. ``unattributed`` names the pool's bucket of events
whose subject is no signatory, so no signatory may take it.
"""
from __future__ import annotations

import re

from meter.core.errors import InvalidRequest

UNATTRIBUTED = "unattributed"  # the bucket of usage that names no registered signatory

_DIGITS = re.compile(r"[0-9]+")
_SLUG = re.compile(r"[a-z0-9-]{1,64}")
_LETTER = re.compile(r"[a-z]")
SIREN_LENGTH = 9


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` ends with a valid Luhn check digit (the rule of SIREN numbers)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _siren_problem(value: str) -> str | None:
    if len(value) != SIREN_LENGTH:
        return f"an all-digit id is a SIREN and must have exactly 9 digits (this one has {len(value)})"
    if not luhn_valid(value):
        return "is not a valid SIREN: its check digit (Luhn) is wrong"
    return None


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid signatory id, or None when it is one."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if value == UNATTRIBUTED:
        return f"{UNATTRIBUTED!r} is reserved for usage that names no signatory"
    if _DIGITS.fullmatch(value):
        return _siren_problem(value)
    if not _SLUG.fullmatch(value):
        return "must be a SIREN (9 digits) or a slug of 1-64 characters among a-z, 0-9 and '-'"
    if not _LETTER.search(value):
        return "a slug must contain at least one letter (a-z)"
    return None


def check_id(value: object) -> str:
    """``value`` if it is a valid id; else ``InvalidRequest`` naming the field ``id``."""
    reason = id_problem(value)
    if reason is not None:
        raise InvalidRequest(f"invalid signatory id {value!r}: {reason}", [{"field": "id", "reason": reason}])
    return value  # type: ignore[return-value]  # id_problem returned None: a str
