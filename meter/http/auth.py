"""Bearer tokens with roles, compared in constant time.

Tokens come from the pool file (``[[tokens]]``, the secret or its SHA-256). A request's token is
hashed and compared with every configured digest by ``hmac.compare_digest``, so neither the
match nor its position leaks through timing.

A secret that matched is remembered (at most one per configured token), so the hot path's next
request with it is one dictionary lookup instead of a SHA-256 and a comparison per token. The
lookup leaks nothing either: a string's hash is keyed per process (SipHash with a random key),
and the characters are compared only after the 64-bit hashes agree, which a wrong guess does
not arrange.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from meter.config.settings import TokenEntry
from meter.core.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Principal:
    role: str
    signatory: str | None
    label: str

    def require(self, *roles: str) -> None:
        """Admin may do everything; any other role only what ``roles`` names."""
        if self.role != "admin" and self.role not in roles:
            raise Forbidden(f"a {self.role} token may not do this (needs {' or '.join(roles)})")

    def require_signatory(self, signatory: str) -> None:
        """A bound token only reaches its own signatory."""
        if self.signatory is not None and self.signatory != signatory:
            raise Forbidden(f"this token is bound to signatory {self.signatory!r}")


class TokenTable:
    def __init__(self, entries: list[TokenEntry]) -> None:
        self._entries = [(bytes.fromhex(e.digest()), Principal(e.role, e.signatory, e.label())) for e in entries]
        self._matched: dict[str, Principal] = {}  # secrets that matched a token, at most one per token

    def resolve(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthorized("a bearer token is required (Authorization: Bearer ... or X-Meter-Token)")
        matched = self._matched.get(secret)
        if matched is not None:
            return matched
        # a header's bytes that are not UTF-8 reach us as surrogates: they name no token either
        digest = hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()
        found = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, digest):
                found = principal
        if found is None:
            raise Unauthorized("the token is not valid")
        if len(self._matched) < len(self._entries):  # a bound that holds even if SHA-256 did not
            self._matched[secret] = found
        return found


def secret_from(headers) -> str | None:  # headers: a multidict of the request
    token = headers.get("X-Meter-Token")
    if token:
        return token.strip()
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None
