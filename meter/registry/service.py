"""Registry: the signatories of one pool.

Redis holds the current registry (``meter/ledger/registry_store.py``: the records, every id ever
registered, the host index). Every change is also appended, in the same transaction, to the
stream the writer copies into ClickHouse (table ``signatory_changes``), so the registry and its
history cannot disagree; two admins changing signatories at once retry instead of leaving a host
claimed twice.
"""
from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from meter.core.clock import Clock
from meter.core.errors import Conflict, InvalidRequest, NotFound, StoreUnavailable
from meter.core.periods import local_day
from meter.ledger.registry_store import RegistryStore, RegistryTxn
from meter.registry.ids import check_id, id_problem
from meter.registry.model import problems, validate_body
from meter.store.clickhouse import ClickHouseStore
from meter.store.history import HistoryReader
from meter.store.rows import ch_time

HISTORY_TABLE = "signatory_changes"
Record = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One signatory's new record, beside the one it replaces (None: a new signatory)."""

    record: Record
    old: Record | None
    row: int | None = None  # 1-based data row of an import, for error details

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def changed(self) -> bool:
        return self.record != self.old


def active_on(record: Record, day: date) -> bool:
    """Active from ``joined_at`` (included) to ``left_at`` (excluded), both local dates."""
    left = record.get("left_at")
    return date.fromisoformat(record["joined_at"]) <= day and (left is None or day < date.fromisoformat(left))


def left_on(record: Record, today: date) -> str:
    """``left_at`` after a DELETE today: an earlier departure stands; one not yet joined never joins."""
    left = record.get("left_at")
    if left is not None and date.fromisoformat(left) <= today:
        return str(left)
    return max(today, date.fromisoformat(record["joined_at"])).isoformat()


def _without_read_only(sid: str, body: Any) -> Any:
    """A body may carry back what a GET returned: ``id`` (when it matches) and ``active`` (computed)."""
    if not isinstance(body, dict):
        return body
    if "id" in body and body["id"] != sid:
        raise InvalidRequest(f"the body's id {body['id']!r} is not the id in the path {sid!r}",
                             [{"field": "id", "reason": f"does not match the id in the path ({sid!r})"}])
    return {k: v for k, v in body.items() if k not in ("id", "active")}


def _at(value: datetime | str) -> str:
    """A ClickHouse DateTime64 (a string from chDB, a datetime from a server) as RFC 3339 UTC."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


class Registry:
    def __init__(self, records: RegistryStore, store: ClickHouseStore | None, tz: ZoneInfo, clock: Clock) -> None:
        self.records = records
        self.pool = records.pool
        self.store = store  # None where only Redis is at hand (the CLI): everything but history works
        self.tz = tz
        self.clock = clock

    def today(self) -> date:
        return local_day(self.clock.now(), self.tz)

    def _public(self, record: Record) -> Record:
        return {**record, "active": active_on(record, self.today())}

    # reading

    async def get_or_none(self, sid: str) -> Record | None:
        found = await self.records.get(sid)
        return None if found is None else self._public(found)

    async def get(self, sid: str) -> Record:
        found = await self.get_or_none(sid)
        if found is None:
            raise NotFound(f"no signatory {sid!r}")
        return found

    async def count(self) -> int:
        """How many signatories the pool has ever had (left ones included)."""
        return await self.records.count()

    async def list(self) -> builtins.list[Record]:
        """Every signatory, left ones included, by id."""
        return [self._public(r) for r in sorted(await self.records.all(), key=lambda r: r["id"])]

    async def history(self, sid: str) -> builtins.list[Record]:
        """Every change written to ClickHouse, oldest first (changes still in the stream come later)."""
        if self.store is None:
            raise StoreUnavailable("the history of signatories is read from ClickHouse, which is not configured here")
        await self.get(sid)
        changes = await HistoryReader(self.store, self.pool).signatory_history(sid)
        return [{"at": _at(c.at), "action": c.action, "changed_by": c.changed_by, "record": orjson.loads(c.record)}
                for c in changes]

    # writing

    async def put(self, sid: str, body: Any, by: str) -> tuple[Record, bool]:
        """Create or replace; returns (the record, created). A replacement keeps ``joined_at`` if not given."""
        check_id(sid)
        body = _without_read_only(sid, body)

        async def apply(txn: RegistryTxn) -> Change:
            old = (await txn.records([sid]))[sid]
            change = Change({"id": sid, **validate_body(body, self._joined_default(old))}, old)
            await self._write(txn, [change], "put", by)
            return change

        change = await self.records.transaction(apply)
        return self._public(change.record), change.old is None

    async def delete(self, sid: str, by: str) -> Record:
        """Mark as left today (local date); the record, its hosts and its usage are kept."""

        async def apply(txn: RegistryTxn) -> Record:
            old = (await txn.records([sid]))[sid]
            if old is None:
                raise NotFound(f"no signatory {sid!r}")
            record = {**old, "left_at": left_on(old, self.today())}
            await self._write(txn, [Change(record, old)], "delete", by)
            return record

        return self._public(await self.records.transaction(apply))

    async def import_rows(self, rows: builtins.list[dict[str, Any]], by: str) -> dict[str, int]:
        """Create or replace every row (each has an ``id``) in one transaction, or none of them.

        Every bad row is reported at once, ``{"row": n, "field", "reason"}`` with n 1-based.
        """

        async def apply(txn: RegistryTxn) -> builtins.list[Change]:
            olds = await txn.records([r["id"] for r in rows if id_problem(r.get("id")) is None])
            changes = self._import_changes(rows, olds)
            await self._write(txn, changes, "import", by)
            return changes

        changes = await self.records.transaction(apply)
        created = sum(1 for c in changes if c.old is None)
        updated = sum(1 for c in changes if c.old is not None and c.changed)
        return {"created": created, "updated": updated, "unchanged": len(changes) - created - updated}

    # the parts of a write

    def _joined_default(self, old: Record | None) -> date:
        return date.fromisoformat(old["joined_at"]) if old else self.today()

    def _import_changes(self, rows: builtins.list[dict[str, Any]],
                        olds: dict[str, Record | None]) -> builtins.list[Change]:
        changes: builtins.list[Change] = []
        found: builtins.list[dict[str, Any]] = []
        first_row: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            sid: Any = row.get("id")
            reason = _row_id_problem(sid, first_row)
            if reason is None:
                first_row[sid] = number
            else:
                found.append({"row": number, "field": "id", "reason": reason})
            old = olds.get(sid) if reason is None else None
            valid, bad = problems({k: v for k, v in row.items() if k != "id"}, self._joined_default(old))
            found.extend({"row": number, **p} for p in bad)
            if reason is None and valid is not None:
                changes.append(Change({"id": sid, **valid}, old, number))
        found.extend(_shared_hosts(changes))
        if found:
            rows_bad = len({p["row"] for p in found})
            raise InvalidRequest(f"{rows_bad} row(s) of the import are invalid; nothing was imported",
                                 sorted(found, key=lambda p: p["row"]))
        return changes

    async def _write(self, txn: RegistryTxn, changes: Iterable[Change], action: str, by: str) -> None:
        """Check hosts, then commit the records, the host index and the history rows (one MULTI)."""
        changed = [c for c in changes if c.changed]
        owners = await txn.host_owners(sorted({h for c in changed for h in (*_hosts(c.old), *_hosts(c.record))}))
        _check_hosts(changed, owners)
        # every stale host goes before any new one: a host may move between rows
        stale = [h for c in changed for h in _hosts(c.old) if h not in _hosts(c.record) and owners.get(h) == c.id]
        txn.commit(stale, [c.record for c in changed], HISTORY_TABLE,
                   [self._history_row(c.record, action, by) for c in changed])

    def _history_row(self, record: Record, action: str, by: str) -> bytes:
        """One row of ``signatory_changes`` (JSONEachRow), as the writer inserts it."""
        at = ch_time(self.clock.now().astimezone(UTC))
        return orjson.dumps({"pool": self.pool, "id": record["id"], "at": at, "action": action,
                             "changed_by": by, "record": orjson.dumps(record).decode()})


def _row_id_problem(sid: Any, first_row: dict[str, int]) -> str | None:
    if sid is None or sid == "":
        return "is required"
    reason = id_problem(sid)
    if reason is None and sid in first_row:
        return f"repeats the id of row {first_row[sid]}"
    return reason


def _hosts(record: Record | None) -> builtins.list[str]:
    return list(record["hosts"]) if record else []


def _shared_hosts(changes: builtins.list[Change]) -> builtins.list[dict[str, Any]]:
    """Rows of one import that claim a host an earlier row claims."""
    claimed: dict[str, int | None] = {}
    found: builtins.list[dict[str, Any]] = []
    for change in changes:
        for host in change.record["hosts"]:
            if host in claimed:
                reason = f"{host!r} is also in row {claimed[host]}"
                found.append({"row": change.row, "field": "hosts", "reason": reason})
            else:
                claimed[host] = change.row
    return found


def _check_hosts(changes: builtins.list[Change], owners: dict[str, str]) -> None:
    """A host belongs to one signatory: claiming another's is a conflict (it must drop it first)."""
    ids = {c.id for c in changes}
    found: builtins.list[dict[str, Any]] = []
    for change in changes:
        for host in change.record["hosts"]:
            owner = owners.get(host)
            if owner is not None and owner != change.id and owner not in ids:
                detail = {"field": "hosts", "reason": f"{host!r} belongs to signatory {owner!r}"}
                found.append(detail if change.row is None else {"row": change.row, **detail})
    if found:
        raise Conflict("a host already belongs to another signatory: " + "; ".join(d["reason"] for d in found), found)
