"""HistoryReader on real Redis and chDB: events go in through the ingestor and the writer, and
come back as named records (a field read by name, not by position)."""
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from meter.contract.validation import event_validator
from meter.ingest.ingestor import Ingestor
from meter.ledger.keys import Keys
from meter.ledger.redis_ledger import RedisLedger
from meter.ledger.stream import RedisStream
from meter.observability.telemetry import Telemetry
from meter.sink.writer import StreamWriter
from meter.store.history import FlowTotal, HistoryReader, SignatoryTotal, StockTotal

pytestmark = [pytest.mark.redis, pytest.mark.chdb, pytest.mark.both_stores]
NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


class Clock:
    def now(self):
        return NOW


def event(i, type_, subject, data):
    return {"specversion": "1.0", "id": str(i), "source": "gw", "type": type_, "time": "2026-03-10T10:00:00Z",
            "subject": subject, "data": data}


@pytest.fixture
async def history(redis_client, pool_id, store):
    keys = Keys(pool_id)
    await redis_client.set(keys.ledger_epoch, 1)  # a complete (empty) ledger
    await redis_client.sadd(keys.signatory_ids, "a", "b")
    ingestor = Ingestor(RedisLedger(redis_client, keys, 3600, 100_000), pool_id, ZoneInfo("Europe/Paris"), Clock(),
                        Telemetry(), event_validator(10_000))
    await ingestor.ingest([
        event(1, "api.call", "a", {"count": 3}), event(2, "api.call", "b", {}),
        event(3, "dataset.records", "a", {"dataset": "d1", "records": 10, "raw_bytes": 100}),
        event(4, "dataset.records", "a", {"dataset": "d2", "records": 40, "raw_bytes": 50}),
        event(5, "content.bytes", "b", {"object": "o1", "bytes": 7}),
    ])
    stream = RedisStream(redis_client, keys)
    await stream.ensure_group()
    await StreamWriter(stream, store, Telemetry(), pool_id, batch_entries=10, block_ms=10,
                       tz=ZoneInfo("Europe/Paris")).drain()
    return HistoryReader(store, pool_id)


async def test_flows_and_stocks_come_back_named(history):
    assert await history.flow_totals(date(2026, 3, 1), date(2026, 3, 31)) == [
        FlowTotal("api_calls", "a", 3), FlowTotal("api_calls", "b", 1)]
    a, b = await history.stock_totals(NOW)
    assert a == StockTotal(signatory="a", records=50, raw_bytes=150, content_bytes=0, dataset_records=40)
    assert b.content_bytes == 7 and b.records == 0
    assert await history.flow_by_signatory("api_calls", date(2026, 3, 1), date(2026, 3, 31)) == [
        SignatoryTotal("a", 3), SignatoryTotal("b", 1)]


async def test_snapshots_counts_and_received_ids(history):
    snaps = {s.item: s for s in await history.latest_snapshots()}
    assert snaps["ds:d1"].records == 10 and snaps["ds:d1"].raw_bytes == 100 and snaps["ds:d1"].signatory == "a"
    assert snaps["obj:o1"].bytes == 7
    assert await history.event_count() == 5 and await history.history_count() == 5
    received = await history.received_between(datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC))
    assert sorted(r.id for r in received) == ["1", "2", "3", "4", "5"] and received[0].source == "gw"
    assert await history.latest_allocation("2026-03") is None
