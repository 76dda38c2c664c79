"""RedisLedger: the ingestion side of the ledger (dedup, counters, stream append).

Takes typed events (``wire.LedgerEvent``) and packs them for ingest.lua itself (``wire``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis.asyncio as redis
from redis import exceptions as rex

from meter.core.errors import BacklogFull, LedgerLost, MeterError, NotOwner, ScriptRefused, TooManyItems, TotalOverflow
from meter.ledger import scripts
from meter.ledger.client import as_text, translated
from meter.ledger.keys import Keys
from meter.ledger.owners import RedisOwners
from meter.ledger.replication import Replication
from meter.ledger.stream import read_backlog
from meter.ledger.wire import IngestResult, LedgerEvent, Transfer, pack_events


def shared_script_error(exc: rex.ResponseError, what: str) -> Exception | None:
    """The errors every ledger script may return, as the service's exceptions (None: another)."""
    if "LEDGER_LOST" in str(exc):
        return LedgerLost("the Redis ledger was lost; it is being rebuilt from ClickHouse")
    if "BAD_META" in str(exc):
        return ScriptRefused(f"the {what} script refused its arguments: {exc}")
    return None


class RedisLedger:
    def __init__(self, client: redis.Redis, keys: Keys, dedup_window_s: int, backlog_limit: int,
                 max_datasets: int = 100_000, max_objects: int = 100_000,
                 replication: Replication | None = None) -> None:
        self.client = client
        self.keys = keys
        self.dedup_window_s = dedup_window_s
        self.backlog_limit = backlog_limit
        self.max_datasets = max_datasets
        self.max_objects = max_objects
        self.replication = replication or Replication(client)
        self._ingest = client.register_script(scripts.source("ingest"))

    async def registered(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` name a registered signatory (left ones included)."""
        wanted = list(ids)
        if not wanted:
            return set()
        async with translated("signatory lookup"):
            found = await self.client.smismember(self.keys.signatory_ids, wanted)
        return {sid for sid, hit in zip(wanted, found) if hit}

    async def ingest(self, events: Sequence[LedgerEvent], table: str = "events", bound: bool = False) -> IngestResult:
        """Count, dedup and append ``events`` in one ingest.lua call: all of them or none.

        ``bound``: the sender's token is bound to a signatory (ownership of stocks applies)."""
        argv = [self.keys.prefix, self.dedup_window_s, self.backlog_limit, len(events), table,
                "1" if bound else "", self.max_datasets, self.max_objects, *pack_events(events)]
        async with translated("ingest"):
            try:
                keys = [self.keys.stream, self.keys.backlog]
                accepted, dups, _, unattributed, transfers = await self.replication.run(self._ingest, keys, argv)
            except rex.ResponseError as exc:
                if shared := shared_script_error(exc, "ingest"):
                    raise shared from None
                if refused := _refused(str(exc), self.max_datasets, self.max_objects):
                    raise refused from None
                if "BACKLOG_FULL" in str(exc):
                    raise BacklogFull(
                        "the backlog of events not yet written to ClickHouse is full; retry later",
                        retry_after_s=30,
                    ) from None
                raise
        moved = [Transfer(*as_text(t).removeprefix(self.keys.prefix).split("\x1f")) for t in transfers]
        return IngestResult(int(accepted), int(dups), int(unattributed), moved)

    def owners(self) -> RedisOwners:
        """Attribution's reading of the registry (host and dataset owners), on this connection."""
        return RedisOwners(self.client, self.keys)

    async def missing(self, keys: Sequence[str]) -> list[str]:
        """Which of ``keys`` do not exist."""
        async with translated("ledger lookup"):
            found = [await self.client.exists(key) for key in keys]
        return [key for key, hit in zip(keys, found) if not hit]

    async def seed_guard(self, key: str, total: int) -> None:
        """The pool total of a period that is over, from history: the base of its 2^53 - 1 guard
        (ingest.lua adds to it; kept for the dedup window). A guard already there stays."""
        async with translated("ledger seed"):
            await self.client.hsetnx(key, "*", total)
            await self.client.expire(key, self.dedup_window_s, nx=True)

    async def backlog(self) -> int:
        return await read_backlog(self.client, self.keys)


def _refused(reply: str, max_datasets: int, max_objects: int) -> MeterError | None:
    """ingest.lua's refusals that depend on what is stored (409), nothing of the batch accepted."""
    if "TOO_LARGE" in reply:
        return TotalOverflow("the batch would take a total past 2^53 - 1 (a period's, or a stock's); "
                             "none was accepted",
                             [{"index": None, "field": "data", "reason": "amounts too large for the totals"}])
    word, _, number = reply.partition(" ")
    index = int(number) - 1 if number.strip().isdigit() else None
    if word == "NOT_OWNER":
        return NotOwner("a dataset or object of the batch belongs to another signatory; none was accepted",
                        [{"index": index, "field": "data",
                          "reason": "belongs to another signatory (its latest snapshot's)"}])
    if word in ("TOO_MANY_DATASETS", "TOO_MANY_OBJECTS"):
        kind, most = ("datasets", max_datasets) if word == "TOO_MANY_DATASETS" else ("objects", max_objects)
        return TooManyItems(kind, most, index)
    return None
