"""RedisLedger: the ingestion side of the ledger (dedup, counters, stream append).

Takes typed events (``wire.LedgerEvent``) and packs them for ingest.lua itself (``wire``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis.asyncio as redis
from redis import exceptions as rex

from meter.core.errors import BacklogFull, InvalidEvents, LedgerLost, ScriptRefused
from meter.ledger import scripts
from meter.ledger.client import translated
from meter.ledger.keys import Keys
from meter.ledger.owners import RedisOwners
from meter.ledger.stream import read_backlog
from meter.ledger.wire import IngestResult, LedgerEvent, pack_events


def shared_script_error(exc: rex.ResponseError, what: str) -> Exception | None:
    """The errors every ledger script may return, as the service's exceptions (None: another)."""
    if "LEDGER_LOST" in str(exc):
        return LedgerLost("the Redis ledger was lost; it is being rebuilt from ClickHouse")
    if "BAD_META" in str(exc):
        return ScriptRefused(f"the {what} script refused its arguments: {exc}")
    return None


class RedisLedger:
    def __init__(self, client: redis.Redis, keys: Keys, dedup_window_s: int, backlog_limit: int) -> None:
        self.client = client
        self.keys = keys
        self.dedup_window_s = dedup_window_s
        self.backlog_limit = backlog_limit
        self._ingest = client.register_script(scripts.source("ingest"))

    async def registered(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` name a registered signatory (left ones included)."""
        wanted = list(ids)
        if not wanted:
            return set()
        async with translated("signatory lookup"):
            found = await self.client.smismember(self.keys.signatory_ids, wanted)
        return {sid for sid, hit in zip(wanted, found) if hit}

    async def ingest(self, events: Sequence[LedgerEvent], table: str = "events") -> IngestResult:
        """Count, dedup and append ``events`` in one ingest.lua call: all of them or none."""
        argv = [self.keys.prefix, self.dedup_window_s, self.backlog_limit, len(events), table, *pack_events(events)]
        async with translated("ingest"):
            try:
                keys = [self.keys.stream, self.keys.backlog]
                accepted, dups, _, unattributed = await self._ingest(keys=keys, args=argv)
            except rex.ResponseError as exc:
                if shared := shared_script_error(exc, "ingest"):
                    raise shared from None
                if "TOO_LARGE" in str(exc):
                    raise InvalidEvents(
                        "the batch would take a pool total past 2^53 - 1; none was accepted",
                        [{"index": None, "field": "data", "reason": "amounts too large for the pool's totals"}],
                    ) from None
                if "BACKLOG_FULL" in str(exc):
                    raise BacklogFull(
                        "the backlog of events not yet written to ClickHouse is full; retry later",
                        retry_after_s=30,
                    ) from None
                raise
        return IngestResult(int(accepted), int(dups), int(unattributed))

    def owners(self) -> RedisOwners:
        """Attribution's reading of the registry (host and dataset owners), on this connection."""
        return RedisOwners(self.client, self.keys)

    async def backlog(self) -> int:
        return await read_backlog(self.client, self.keys)
