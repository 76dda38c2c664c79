"""The writer on real Redis and chDB: batches, exactly-once across a crash, ClickHouse failures."""
import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from meter.contract.validation import event_validator
from meter.core.errors import StoreUnavailable
from meter.ingest.ingestor import Ingestor
from meter.ledger.keys import Keys
from meter.ledger.redis_ledger import RedisLedger
from meter.ledger.stream import SLICE, Batch, RedisStream, _decode
from meter.observability.telemetry import Telemetry
from meter.sink.writer import StreamWriter
from meter.store import queries

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.both_stores]
NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


class Clock:
    def now(self):
        return NOW


def call(i):
    return {"specversion": "1.0", "id": str(i), "source": "gw", "type": "api.call",
            "time": "2026-03-10T10:00:00Z", "subject": "s", "data": {}}


@pytest.fixture
async def parts(redis_client, pool_id, store):
    keys = Keys(pool_id)
    await redis_client.set(keys.ledger_epoch, 1)  # a complete (empty) ledger
    ledger = RedisLedger(redis_client, keys, 3600, 100_000)
    ingestor = Ingestor(ledger, pool_id, PARIS, Clock(), Telemetry(), event_validator(10_000))
    stream = RedisStream(redis_client, keys)
    await stream.ensure_group()
    writer = StreamWriter(stream, store, Telemetry(), pool_id, batch_entries=2, block_ms=10, tz=PARIS)
    return ingestor, stream, writer, store, pool_id


async def count(store, pool_id):
    sql, params = queries.event_count(store.db, pool_id)
    return (await store.rows(sql, params))[0][0]


async def test_writes_everything_once_and_empties_the_backlog(parts):
    ingestor, stream, writer, store, pool = parts
    for b in range(5):
        await ingestor.ingest([call(b * 10 + i) for i in range(10)])
    assert await writer.drain() == 50
    assert await count(store, pool) == 50
    assert await stream.backlog() == 0
    assert await stream.client.xlen(stream.keys.stream) == 0
    sql, params = queries.flow_totals(store.db, pool, datetime(2026, 3, 1).date(), datetime(2026, 3, 31).date())
    assert await store.rows(sql, params) == [("api_calls", "unattributed", 50)]


async def test_a_batch_is_bounded_by_its_rows_and_the_pause_follows_them(parts):
    """Entries of 10 rows, a bound of 25 rows: after the first read, the writer asks for 2 entries
    at a time, and a batch of 20 rows (short of 25, but every entry it asked for) counts as full."""
    ingestor, stream, _, store, pool = parts
    writer = StreamWriter(stream, store, Telemetry(), pool, batch_entries=100, block_ms=10, tz=PARIS, batch_rows=25)
    for b in range(7):
        await ingestor.ingest([call(b * 10 + i) for i in range(10)])
    assert await writer.step() == 70 and writer._last_full  # the first read: up to 100 entries, 70 rows
    for b in range(7, 12):
        await ingestor.ingest([call(b * 10 + i) for i in range(10)])
    assert [await writer.step() for _ in range(3)] == [20, 20, 10]
    assert await count(store, pool) == 120 and await stream.backlog() == 0
    assert not writer._last_full  # the last batch was one entry short: the writer pauses


async def test_crash_after_insert_before_ack_replays_the_same_range_once(parts):
    ingestor, stream, writer, store, pool = parts
    await ingestor.ingest([call(i) for i in range(10)])
    await ingestor.ingest([call(i) for i in range(10, 20)])
    batch = await stream.next_batch(2, 10)
    await writer._insert(batch)  # inserted, then the process "dies" before the ack
    await ingestor.ingest([call(i) for i in range(20, 25)])
    restarted = StreamWriter(RedisStream(stream.client, stream.keys), store, Telemetry(), pool, 2, 10, tz=PARIS)
    assert await restarted.drain() == 25
    assert await count(store, pool) == 25


async def test_entries_pending_without_a_recorded_range_are_written(parts):
    ingestor, stream, writer, store, pool = parts
    await ingestor.ingest([call(i) for i in range(7)])
    await stream.client.xreadgroup("writer", "writer-1", {stream.keys.stream: ">"}, count=10)  # read, then crash
    assert await writer.drain() == 7
    assert await count(store, pool) == 7


class DownStore:
    """Stands in for a ClickHouse that is unreachable (the failure cannot be staged with chDB)."""

    db = "none"

    async def insert_json(self, table, payload, token):
        raise StoreUnavailable("ClickHouse is down")


async def test_clickhouse_down_keeps_the_batch_for_later(parts):
    ingestor, stream, writer, store, pool = parts
    await ingestor.ingest([call(i) for i in range(3)])
    down = StreamWriter(stream, DownStore(), Telemetry(), pool, 2, 10, tz=PARIS)
    with pytest.raises(StoreUnavailable):
        await down.step()
    assert await stream.backlog() == 3
    assert await writer.drain() == 3
    assert await count(store, pool) == 3


async def test_one_writer_per_pool_holds_the_lease(parts):
    ingestor, stream, writer, store, pool = parts
    other = RedisStream(stream.client, stream.keys)
    assert await stream.lease("process-a", 200)
    assert await stream.lease("process-a", 200)  # renewed
    assert not await other.lease("process-b", 200)
    await asyncio.sleep(0.3)  # process a died: its lease runs out
    assert await other.lease("process-b", 200)
    assert not await stream.lease("process-a", 200)


async def test_new_entries_are_read_a_slice_at_a_time_into_one_contiguous_batch(parts):
    """60 entries, SLICE (25) a read: a batch of 55 is three reads (25, 25, 5), in stream order,
    and the crash range it records covers exactly its entries; the rest come next, once."""
    ingestor, stream, writer, store, pool = parts
    assert SLICE == 25
    for i in range(60):
        await ingestor.ingest([call(i)])
    ids = [eid.decode() for eid, _ in await stream.client.xrange(stream.keys.stream)]
    batch = await stream.next_batch(55, 10)
    assert [e.id for e in batch.entries] == ids[:55]
    first, last = (await stream.client.get(stream.keys.writer_inflight)).decode().split(" ")
    assert [eid.decode() for eid, _ in await stream.client.xrange(stream.keys.stream, first, last)] == ids[:55]
    await writer._insert(batch)
    await stream.ack(batch)
    rest = await stream.next_batch(55, 10)
    assert [e.id for e in rest.entries] == ids[55:]
    await writer._insert(rest)
    await stream.ack(rest)
    assert await count(store, pool) == 60 and await stream.backlog() == 0


async def test_a_batch_stops_reading_once_its_rows_are_in_whatever_its_entries(parts):
    """60 entries of 10 rows, up to 1,000 entries but about 300 rows: two slices (250 rows, then
    500) and no third read; the rest come next."""
    ingestor, stream, writer, store, pool = parts
    for b in range(60):
        await ingestor.ingest([call(b * 10 + i) for i in range(10)])
    ids = [eid.decode() for eid, _ in await stream.client.xrange(stream.keys.stream)]
    batch = await stream.next_batch(1000, 10, max_rows=300)
    assert [e.id for e in batch.entries] == ids[:2 * SLICE] and batch.events == 500
    await writer._insert(batch)
    await stream.ack(batch)
    rest = await stream.next_batch(1000, 10, max_rows=300)
    assert [e.id for e in rest.entries] == ids[2 * SLICE:]


async def test_entries_pending_after_a_crash_are_read_a_slice_at_a_time_each_once(parts):
    """60 entries read and never inserted (a crash before the range was recorded): the next batch
    pages through them in stream order, stopping at its rows; the one after takes the rest."""
    ingestor, stream, writer, store, pool = parts
    for i in range(60):
        await ingestor.ingest([call(i)])
    ids = [eid.decode() for eid, _ in await stream.client.xrange(stream.keys.stream)]
    await stream.client.xreadgroup("writer", "writer-1", {stream.keys.stream: ">"}, count=100)  # read, then crash
    await ingestor.ingest([call(100)])  # a new entry waits behind the pending ones
    batch = await stream.next_batch(1000, 10, max_rows=30)
    assert [e.id for e in batch.entries] == ids[:2 * SLICE]  # two slices of the pending list: 25, then 50 rows
    await writer._insert(batch)
    await stream.ack(batch)
    rest = await stream.next_batch(1000, 10)
    assert [e.id for e in rest.entries] == ids[2 * SLICE:]  # the pending rest, not yet the new entry
    await writer._insert(rest)
    await stream.ack(rest)
    assert await writer.drain() == 1 and await count(store, pool) == 61


class Ticker:
    """Counts the event loop's turns while it runs: what another task (a check) gets meanwhile."""

    def __init__(self) -> None:
        self.turns, self.task = 0, asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.turns += 1
            await asyncio.sleep(0)


async def test_decoding_and_building_rows_give_the_loop_a_turn_every_slice():
    ticker = Ticker()
    await asyncio.sleep(0)
    raw = [(f"{i}-0".encode(), {b"usage": b"[]", b"t": b"1", b"n": b"1"}) for i in range(100)]
    seen = []
    try:
        entries = await _decode(raw)
        decoded_turns = ticker.turns
        await Batch(entries).by_table(lambda e: seen.append(ticker.turns) or b"")
    finally:
        ticker.task.cancel()
    assert len(entries) == 100 and decoded_turns >= 100 // SLICE
    assert seen[0] < seen[-1] and len(set(seen)) == 100 // SLICE  # one turn between two slices
