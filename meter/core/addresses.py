"""Email addresses checked as addresses (DESIGN §4 "Limits and trust"), by a maintained validator.

Syntax only, no DNS lookup (the service may run without outside DNS). One address per entry: a
comma or a semicolon, which would add recipients once the address reaches a mail header, is
refused, and so is anything the validator refuses (quoted local parts, display names, spaces).
"""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def address_problem(address: str) -> str | None:
    """Why ``address`` is not one email address, or None."""
    if any(c in address for c in ",;"):
        return "one address per entry (a comma or a semicolon would add recipients)"
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def refuse_bad_addresses(addresses: list[str]) -> list[str]:
    """``addresses`` unchanged, or ValueError naming each bad one and why (for pydantic validators)."""
    bad = [f"{a!r}: {why}" for a in addresses if (why := address_problem(a))]
    if bad:
        raise ValueError("not an email address: " + "; ".join(bad))
    return addresses
