"""Attribution of events that name no signatory (DESIGN §4), so collectors need no registry.

- ``api.call`` with ``data.host``: as ``/v1/authz`` attributes a request, host then dataset then
  ``unattributed`` (the rule is ``meter/ledger/lua/owner.lua``, shared with the gateway hook).
- ``dataset.records`` / ``dataset.deleted`` / ``dataset.metadata`` with ``data.publisher``: the pool file's
  ``[collectors.ods] publishers`` table, then a signatory whose ``name`` is exactly the
  publisher, else ``unattributed``.

It takes each validated event's subject, type and data, whatever shape validation gives them.
An id found here that names no registered signatory still goes to ``unattributed`` downstream.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from meter.registry.ids import UNATTRIBUTED

HOST_TYPES = frozenset({"api.call"})
PUBLISHER_TYPES = frozenset({"dataset.records", "dataset.deleted", "dataset.metadata"})
Unnamed = tuple[str | None, str, Mapping[str, Any]]  # (subject or None, type, data)


class Owners(Protocol):
    """The registry's side (``RedisOwners``)."""

    async def owners(self, pairs: Sequence[tuple[str, str]]) -> list[str]: ...

    async def ids_by_name(self) -> dict[str, str]: ...


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


class Attribution:
    def __init__(self, owners: Owners, publishers: Mapping[str, str]) -> None:
        self.owners = owners
        self.publishers = dict(publishers)

    async def subjects(self, events: Sequence[Unnamed]) -> list[str]:
        """The signatory each event counts for: its own subject, or the one found for it."""
        found = [subject or UNATTRIBUTED for subject, _, _ in events]
        by_host = [i for i, (s, t, d) in enumerate(events) if not s and t in HOST_TYPES and _text(d, "host")]
        by_publisher = [i for i, (s, t, d) in enumerate(events) if not s and t in PUBLISHER_TYPES
                        and _text(d, "publisher")]
        if by_host:
            pairs = [(_text(events[i][2], "host").lower(), _text(events[i][2], "dataset")) for i in by_host]
            unique = list(dict.fromkeys(pairs))  # a batch from one gateway repeats a few hosts and datasets
            owner = dict(zip(unique, await self.owners.owners(unique)))
            for i, pair in zip(by_host, pairs):
                found[i] = owner[pair]
        if by_publisher:
            publishers = [_text(events[i][2], "publisher") for i in by_publisher]
            for i, sig in zip(by_publisher, await self._by_publisher(publishers)):
                found[i] = sig
        return [sig or UNATTRIBUTED for sig in found]

    async def _by_publisher(self, publishers: list[str]) -> list[str]:
        missing = [p for p in publishers if p not in self.publishers]
        names = await self.owners.ids_by_name() if missing else {}  # one read, only when the table falls short
        return [self.publishers.get(p) or names.get(p) or UNATTRIBUTED for p in publishers]
