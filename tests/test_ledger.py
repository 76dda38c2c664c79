"""The ingest script on the real Redis: dedup, counters, stocks, backlog limit, NOSCRIPT."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from meter.contract.validation import event_validator
from meter.core.errors import BacklogFull, ScriptRefused
from meter.ingest.ingestor import Ingestor
from meter.ledger.keys import Keys
from meter.ledger.redis_ledger import RedisLedger
from meter.ledger.wire import IngestResult, LedgerEffect, LedgerEvent
from meter.observability.telemetry import Telemetry

pytestmark = pytest.mark.redis
NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


class Clock:
    def now(self):
        return NOW


def call(i, subject="known", source="gw", **data):
    return {"specversion": "1.0", "id": str(i), "source": source, "type": "api.call",
            "time": "2026-03-10T10:00:00Z", "subject": subject, "data": data}


def records(i, dataset, n, raw, time="2026-03-10T10:00:00Z", subject="known"):
    return {"specversion": "1.0", "id": f"r{i}", "source": "bo", "type": "dataset.records", "time": time,
            "subject": subject, "data": {"dataset": dataset, "records": n, "raw_bytes": raw}}


@pytest.fixture
async def ingestor(redis_client, pool_id):
    keys = Keys(pool_id)
    await redis_client.sadd(keys.signatory_ids, "known")
    await redis_client.set(keys.ledger_epoch, 1)  # a complete (empty) ledger
    ledger = RedisLedger(redis_client, keys, dedup_window_s=3600, backlog_limit=50)
    return Ingestor(ledger, pool_id, ZoneInfo("Europe/Paris"), Clock(), Telemetry(), event_validator(1000))


async def flow(ingestor, field, period="2026-03"):
    value = await ingestor.ledger.client.hget(ingestor.keys.flow("api_calls", period), field)
    return int(value or 0)


async def stock(ingestor, metric, field="*"):
    return int(await ingestor.ledger.client.hget(ingestor.keys.stock(metric), field) or 0)


async def test_counts_and_dedup_within_and_across_batches(ingestor):
    r = await ingestor.ingest([call(1), call(2, count=5), call(1)])
    assert (r.accepted, r.duplicates) == (2, 1)
    r = await ingestor.ingest([call(2), call(3)])
    assert (r.accepted, r.duplicates) == (1, 1)
    assert await flow(ingestor, "known") == 7 and await flow(ingestor, "*") == 7
    assert await ingestor.ledger.backlog() == 3
    assert await ingestor.ledger.client.xlen(ingestor.keys.stream) == 2


async def test_same_id_from_another_source_is_another_event(ingestor):
    r = await ingestor.ingest([call(1, source="a"), call(1, source="b")])
    assert r.accepted == 2


async def test_unknown_subject_goes_to_unattributed(ingestor):
    await ingestor.ingest([call(1, subject="234500023"), call(2, subject="who?")])
    assert await flow(ingestor, "unattributed") == 2 and await flow(ingestor, "*") == 2


async def test_check_id_alias_makes_repeats_duplicates(ingestor):
    await ingestor.ledger.client.set(ingestor.keys.seen_check("chk-1"), 1)
    r = await ingestor.ingest([call(1, check_id="chk-1"), call(2, check_id="chk-2"), call(3, check_id="chk-2")])
    assert (r.accepted, r.duplicates) == (1, 2)


async def test_stock_snapshots_move_totals_by_the_difference(ingestor):
    await ingestor.ingest([records(1, "d1", 100, 1000), records(2, "d2", 50, 500)])
    assert await stock(ingestor, "records") == 150 and await stock(ingestor, "raw_bytes") == 1500
    await ingestor.ingest([records(3, "d1", 80, 900, time="2026-03-11T00:00:00Z")])
    assert await stock(ingestor, "records") == 130
    # an older snapshot than the one in force changes history only, not the current stock
    await ingestor.ingest([records(4, "d1", 999, 9, time="2026-03-01T00:00:00Z")])
    assert await stock(ingestor, "records") == 130 and await stock(ingestor, "records", "known") == 130
    deleted = {"specversion": "1.0", "id": "del", "source": "bo", "type": "dataset.deleted",
               "time": "2026-03-12T00:00:00Z", "subject": "known", "data": {"dataset": "d2"}}
    await ingestor.ingest([deleted])
    assert await stock(ingestor, "records") == 80 and await stock(ingestor, "raw_bytes") == 900


async def test_dataset_moving_to_another_signatory(ingestor):
    await ingestor.ingest([records(1, "d1", 100, 10)])
    await ingestor.ingest([records(2, "d1", 100, 10, time="2026-03-11T00:00:00Z", subject="other")])
    assert await stock(ingestor, "records", "known") == 0
    assert await stock(ingestor, "records", "unattributed") == 100
    assert await stock(ingestor, "records") == 100


async def test_backlog_full_refuses_and_changes_nothing(ingestor):
    await ingestor.ingest([call(i) for i in range(45)])
    with pytest.raises(BacklogFull):
        await ingestor.ingest([call(100 + i) for i in range(10)])
    assert await flow(ingestor, "*") == 45
    r = await ingestor.ingest([call(100 + i) for i in range(5)])
    assert r.accepted == 5  # the refused events were not marked as seen


async def test_a_malformed_meta_changes_nothing(ingestor):
    """The script reads every event's meta before it writes: a bad one leaves no dedup key behind."""
    keys = ingestor.keys
    good = LedgerEvent(keys.seen("gw", "m1"), "known", LedgerEffect("f", keys.flow("api_calls", "2026-03"), 1, 0, 3600),
                       "", b"{}")
    # a key with the separator in it: the packed meta has a field too many
    bad = LedgerEvent(keys.seen("gw", "m2"), "known", LedgerEffect("f", "extra\x1ffield", 1, 0, 3600), "", b"{}")
    with pytest.raises(ScriptRefused, match="BAD_META event 2"):
        await ingestor.ledger.ingest([good, bad])
    assert not await ingestor.ledger.client.exists(keys.seen("gw", "m1"))
    assert await flow(ingestor, "*") == 0 and await ingestor.ledger.backlog() == 0
    assert await ingestor.ledger.ingest([good]) == IngestResult(1, 0, 0)


async def test_a_value_holding_a_newline_changes_nothing(ingestor):
    """The lists are joined by newlines: a value holding one makes a list too long, refused whole."""
    keys = ingestor.keys
    good = LedgerEvent(keys.seen("gw", "n1"), "known", LedgerEffect("f", keys.flow("api_calls", "2026-03"), 1, 0, 3600),
                       "", b"{}")
    bad = good._replace(seen_key=keys.seen("gw", "n2") + "\nextra")
    with pytest.raises(ScriptRefused, match="BAD_META"):
        await ingestor.ledger.ingest([good, bad])
    assert not await ingestor.ledger.client.exists(keys.seen("gw", "n1"))
    assert await flow(ingestor, "*") == 0 and await ingestor.ledger.backlog() == 0


async def test_lost_script_is_reloaded(ingestor):
    await ingestor.ingest([call(1)])
    await ingestor.ledger.client.script_flush()
    r = await ingestor.ingest([call(2)])
    assert r.accepted == 1 and await flow(ingestor, "*") == 2


async def test_old_period_counters_expire_with_their_period(ingestor):
    old = call(1)
    old["time"] = "2025-01-10T10:00:00Z"
    assert (await ingestor.ingest([old])).accepted == 1
    # a period long over keeps only its pool total, the 2^53 - 1 guard, for the dedup window
    guard = ingestor.keys.flow("api_calls", "2025-01")
    assert await ingestor.ledger.client.hgetall(guard) == {b"*": b"1"}
    assert 0 < await ingestor.ledger.client.ttl(guard) <= ingestor.ledger.dedup_window_s
    await ingestor.ingest([call(2)])
    ttl = await ingestor.ledger.client.ttl(ingestor.keys.flow("api_calls", "2026-03"))
    assert 18 * 86400 < ttl <= 19 * 86400  # until 1 April local midnight (16 d 10 h), plus 2 days
