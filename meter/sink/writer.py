"""StreamWriter: Redis stream -> ClickHouse, in batches, at least once, counted exactly once.

Each batch is inserted with the deduplication token ``pool:first:last:table``; it is acknowledged
only after every insert succeeded. ClickHouse down: the same batch is retried with capped
exponential backoff while ingestion goes on (up to the backlog limit). Stopping finishes the
batch in flight (graceful shutdown flushes what was read). Most entries carry their rows; the
usage that decide.lua and reservation.lua record comes as facts, whose rows are built here
(``store.rows.usage_rows``), so the scripts only decide and the rows are written in Python.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import tzinfo

from meter.core.errors import MeterError
from meter.ledger.stream import Batch, Entry, RedisStream
from meter.observability.telemetry import Telemetry
from meter.store.clickhouse import ClickHouseStore
from meter.store.rows import usage_rows

log = logging.getLogger("meter.sink.writer")
MAX_BACKOFF_S = 30.0
LEASE_MS = 20_000  # renewed at every batch; a writer silent that long is presumed dead


class StreamWriter:
    def __init__(self, stream: RedisStream, store: ClickHouseStore, telemetry: Telemetry, pool: str,
                 batch_entries: int, block_ms: int, pace_ms: int = 0, *, tz: tzinfo,
                 batch_rows: int = 50_000) -> None:
        self.stream = stream
        self.store = store
        self.telemetry = telemetry
        self.pool = pool
        self.tz = tz  # the pool's: the local day of the usage rows built from facts
        self.batch_entries = batch_entries  # the most entries a batch reads
        self.batch_rows = batch_rows  # about the most rows a batch inserts (an insert's memory follows its rows)
        self._count = batch_entries  # entries the next read asks for: about batch_rows rows' worth
        self.block_ms = block_ms
        self.pace_s = pace_ms / 1000
        self._stopping = asyncio.Event()
        self._last_full = False
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None  # monotonic time of the first failure in a row

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def failing_for(self) -> float:
        """Seconds since the writer's current run of failures began (0 while it writes)."""
        return 0.0 if self._failing_since is None else time.monotonic() - self._failing_since

    async def step(self) -> int:
        """Write one batch if there is one; returns the number of events written."""
        batch = await self.stream.next_batch(self._count, self.block_ms, self.batch_rows)
        if batch is None:
            return 0
        await self._insert(batch)
        await self.stream.ack(batch)
        self.telemetry.stream_lag.set(await self.stream.backlog())
        # full by its rows or by its entries; the next read asks for the entries that make about
        # batch_rows rows at this batch's rows per entry (an entry holds one request's rows: 1 to 10,000)
        self._last_full = batch.events >= self.batch_rows or len(batch.entries) >= self._count
        per_entry = max(1, batch.events // len(batch.entries))
        self._count = max(1, min(self.batch_entries, self.batch_rows // per_entry))
        return batch.events

    async def _insert(self, batch: Batch) -> None:
        for table, payload in (await batch.by_table(self._rows)).items():
            token = f"{self.pool}:{batch.first}:{batch.last}:{table}"
            started = time.perf_counter()
            await self.store.insert_json(table, payload, token)
            self.telemetry.insert_seconds.observe(time.perf_counter() - started)
            self.telemetry.rows_written.labels(table).inc(payload.count(b"\n") + 1)

    def _rows(self, entry: Entry) -> bytes:
        """An entry's rows: as queued, or built from the usage facts a ledger script appended."""
        if entry.usage is None:
            return entry.rows
        return usage_rows(self.pool, self.tz, entry.usage.facts, entry.usage.at_ms, entry.usage.ref)

    async def drain(self) -> int:
        """Write until the stream is empty (tests, shutdown)."""
        total = 0
        while written := await self.step():
            total += written
        return total

    async def run(self) -> None:
        backoff = 0.5
        token = uuid.uuid4().hex
        while not self._stopping.is_set():
            try:
                if not await self.stream.lease(token, LEASE_MS):
                    await self._pause(LEASE_MS / 1000 / 4)  # another process writes; stand by
                    continue
                written = await self.step()
                backoff = 0.5
                self._failing_since = None
                if written and not self._last_full:
                    # a small batch: let more gather first. Each insert costs ClickHouse a fixed
                    # ~15-20 ms whatever its size, so a trickle of tiny inserts would eat a core.
                    await self._pause(self.pace_s)
            except Exception as exc:  # never let the writer die: count, back off, retry the same batch
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                kind = exc.type if isinstance(exc, MeterError) else "unexpected"
                self.telemetry.errors.labels("writer", kind).inc()
                log.warning("writer: %s; retrying in %.1f s", exc, backoff, exc_info=kind == "unexpected")
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def start(self) -> None:
        """Run in the background until ``stop()``."""
        self._task = asyncio.create_task(self.run(), name="stream-writer")

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop and wait for the batch in flight, so that nothing is written after this returns."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(task, timeout=timeout_s)
