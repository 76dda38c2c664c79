"""Event validation: whole-batch, every problem named by index and field (pure)."""
from datetime import UTC, datetime

import pytest

from meter.contract.validation import validate_events
from meter.core.errors import InvalidEvents, PayloadTooLarge

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def ev(**over):
    base = {"specversion": "1.0", "id": "e1", "source": "gw", "type": "api.call",
            "time": "2026-03-15T10:00:00Z", "subject": "loiret", "data": {"dataset": "ds1"}}
    base.update(over)
    return base


def problems(batch):
    with pytest.raises(InvalidEvents) as err:
        validate_events(batch, NOW, 1000)
    return [(d["index"], d["field"]) for d in err.value.details]


def test_valid_events_of_every_type():
    batch = [ev(), ev(id="2", type="update.bytes", data={"bytes": 10, "kind": "content"}),
             ev(id="3", type="dataset.records", data={"dataset": "d", "records": 5, "raw_bytes": 9}),
             ev(id="4", type="content.bytes", data={"object": "img.png", "bytes": 0}),
             ev(id="5", type="dataset.deleted", data={"dataset": "d"})]
    out = validate_events(batch, NOW, 1000)
    assert [e.amount for e in out] == [1, 10, 5, 0, 0]
    assert out[2].raw_bytes == 9 and out[1].kind == "content"
    assert out[0].time == datetime(2026, 3, 15, 10, tzinfo=UTC)


def test_every_bad_event_is_listed_with_index_and_field():
    batch = [ev(), ev(id=""), ev(type="nope"), ev(data={"count": 0}), ev(time="yesterday"),
             ev(specversion="0.3"), "not an object", ev(subject="a\x07b")]
    assert problems(batch) == [(1, "id"), (2, "type"), (3, "data.count"), (4, "time"), (5, "specversion"),
                               (6, ""), (7, "subject")]


def test_types_and_ranges():
    assert problems([ev(data={"count": True})]) == [(0, "data.count")]
    assert problems([ev(type="update.bytes", data={"bytes": -1, "kind": "data"})]) == [(0, "data.bytes")]
    assert problems([ev(type="update.bytes", data={"bytes": 1, "kind": "x"})]) == [(0, "data.kind")]
    assert problems([ev(type="update.bytes", data={"bytes": 1})]) == [(0, "data.kind")]  # required
    assert problems([ev(type="dataset.records", data={"records": 1, "raw_bytes": 1})]) == [(0, "data.dataset")]
    assert problems([ev(data=[1])]) == [(0, "data")]
    assert problems([ev(subject="x" * 129)]) == [(0, "subject")]
    assert problems([ev(time="2026-03-15T10:00:00")]) == [(0, "time")]
    # the future is bounded by the service's clock (DESIGN §4; the spec says it in words)
    assert validate_events([ev(time="2026-03-15T12:05:00Z")], NOW, 10)[0].time.minute == 5
    assert problems([ev(time="2026-03-15T12:05:01Z")]) == [(0, "time")]
    assert problems([ev(time="1969-12-31T23:00:00Z")]) == [(0, "time")]  # before ClickHouse's dates
    assert problems([ev(time="2026-02-30T10:00:00Z")]) == [(0, "time")]
    for other_iso_8601 in ("20260315T100000Z", "2026-03-15T10:00Z", "2026-W11-7T10:00:00Z", "2026-03-15T10:00:00+0100"):
        assert problems([ev(time=other_iso_8601)]) == [(0, "time")], other_iso_8601
    for rfc_3339, utc in (("2026-03-15t10:00:00.123456z", datetime(2026, 3, 15, 10, 0, 0, 123456, UTC)),
                          ("2026-03-15 10:00:00+01:00", datetime(2026, 3, 15, 9, tzinfo=UTC)),
                          ("2026-03-15T07:00:00.5-03:30", datetime(2026, 3, 15, 10, 30, 0, 500000, UTC))):
        assert validate_events([ev(time=rfc_3339)], NOW, 10)[0].time == utc, rfc_3339


def test_missing_time_is_arrival_time():
    raw = ev()
    del raw["time"]
    assert validate_events([raw], NOW, 10)[0].time == NOW


def test_empty_and_oversized_batches():
    assert problems([]) == [(None, "body")]
    with pytest.raises(PayloadTooLarge):
        validate_events([ev()] * 3, NOW, 2)


def test_a_collector_may_leave_the_subject_out_where_the_data_attributes_the_event():
    raw = ev(data={"host": "data.loiret.fr"})
    del raw["subject"]
    [call] = validate_events([raw], NOW, 10)
    assert call.subject is None and call.host == "data.loiret.fr"  # attributed later, by host
    records = ev(type="dataset.records", data={"dataset": "d", "records": 1, "raw_bytes": 2, "publisher": "Loiret"})
    del records["subject"]
    assert validate_events([records], NOW, 10)[0].publisher == "Loiret"


def test_an_event_with_neither_subject_nor_host_or_publisher_is_invalid():
    bare = [ev(), ev(type="dataset.deleted", data={"dataset": "d"}),
            ev(type="update.bytes", data={"bytes": 1, "kind": "data"})]
    for raw in bare:
        del raw["subject"]
    assert problems(bare) == [(0, "subject"), (1, "subject"), (2, "subject")]


def test_extension_attributes_are_accepted_and_ignored():
    [call] = validate_events([ev(traceparent="00-abc-def-01", partitionkey="x", data={"count": 2.0})], NOW, 10)
    assert call.amount == 2 and isinstance(call.amount, int)
