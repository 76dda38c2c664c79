"""RedisLedger: the ingestion side of the ledger (dedup, counters, stream append)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis.asyncio as redis
from redis import exceptions as rex

from meter.errors import BacklogFull, InvalidEvents, LedgerUnavailable, ScriptRefused
from meter.keys import Keys
from meter.ledger import scripts
from meter.ledger.client import translated
from meter.ledger.stream import read_backlog



class LedgerLost(LedgerUnavailable):
    """Redis answers but has lost the ledger (flushed, failed over): it must be rebuilt first."""

    type = "ledger_lost"


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

    async def ingest(self, groups: Sequence[str | int | bytes], n: int, table: str = "events") -> tuple[int, int, int]:
        """Run the ingest script on ``n`` events (3 values each: seen key, meta, row).

        Returns (accepted, duplicates, accepted events attributed to ``unattributed``).
        """
        argv = [self.keys.prefix, self.dedup_window_s, self.backlog_limit, n, table, *groups]
        async with translated("ingest"):
            try:
                accepted, dups, _, unattributed = await self._ingest(keys=[self.keys.stream, self.keys.backlog], args=argv)
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
        return int(accepted), int(dups), int(unattributed)

    async def backlog(self) -> int:
        return await read_backlog(self.client, self.keys)
