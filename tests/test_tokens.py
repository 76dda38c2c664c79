"""The token table: who a secret is, what a role may do, and the memory of matched secrets
bounded by the tokens configured (a stream of wrong secrets leaves nothing behind)."""
from __future__ import annotations

import hashlib

import pytest

from meter.config.settings import TokenEntry
from meter.core.errors import Forbidden, Unauthorized
from meter.http.auth import TokenTable

ENTRIES = [TokenEntry(role="gateway", token="gateway-secret-1"),
           TokenEntry(role="reader", sha256=hashlib.sha256(b"reader-secret-1").hexdigest(), name="dashboards"),
           TokenEntry(role="gateway", token="bound-gateway-1", signatory="s7"),
           TokenEntry(role="admin", token="admin-secret-1")]


def test_a_secret_resolves_to_its_token_the_first_time_and_every_time_after():
    table = TokenTable(ENTRIES)
    for _ in range(3):
        gateway = table.resolve("gateway-secret-1")
        assert (gateway.role, gateway.signatory) == ("gateway", None)
        assert table.resolve("reader-secret-1").label == "dashboards"
        assert table.resolve("bound-gateway-1").signatory == "s7"


@pytest.mark.parametrize("secret", [None, "", "gateway-secret-2", "gateway-secret-1 ", "GATEWAY-SECRET-1",
                                    "gateway-secret-\udcff"])
def test_a_wrong_secret_is_refused_before_and_after_the_right_one_was_seen(secret):
    table = TokenTable(ENTRIES)
    with pytest.raises(Unauthorized):
        table.resolve(secret)
    table.resolve("gateway-secret-1")
    with pytest.raises(Unauthorized):
        table.resolve(secret)


def test_wrong_secrets_leave_no_memory_and_right_ones_at_most_one_each():
    table = TokenTable(ENTRIES)
    for i in range(5000):
        with pytest.raises(Unauthorized):
            table.resolve(f"guess-{i:08d}")
    assert len(table._matched) == 0
    for secret in ("gateway-secret-1", "reader-secret-1", "bound-gateway-1", "admin-secret-1") * 3:
        table.resolve(secret)
    assert len(table._matched) == len(ENTRIES)


@pytest.mark.parametrize(("secret", "roles", "allowed"), [
    ("gateway-secret-1", ("gateway",), True), ("gateway-secret-1", ("reader",), False),
    ("gateway-secret-1", ("producer", "gateway"), True), ("reader-secret-1", ("gateway",), False),
    ("admin-secret-1", ("gateway",), True), ("admin-secret-1", ("reader", "producer"), True)])
def test_a_role_may_what_it_is_given_and_admin_everything(secret, roles, allowed):
    principal = TokenTable(ENTRIES).resolve(secret)
    if allowed:
        principal.require(*roles)
    else:
        with pytest.raises(Forbidden, match="may not do this"):
            principal.require(*roles)
