"""Golden tests of the SQL builders: the exact text and parameters each one sends to ClickHouse.

A change to a query shows up here as a diff to read, not as a surprise in a result. Values go in
the parameters, never in the text; only the database name (``m`` here) is formatted in.
"""
from datetime import UTC, date, datetime

from meter.store import queries

MARCH = (date(2026, 3, 1), date(2026, 3, 31))
T0 = datetime(2026, 4, 1, 10, 30, tzinfo=UTC)


def test_flow_totals():
    assert queries.flow_totals("m", "p", *MARCH) == (
        "SELECT metric, signatory, sum(value) FROM m.usage_daily"
        " WHERE pool = {pool:String} AND day BETWEEN {first:Date} AND {last:Date}"
        " GROUP BY metric, signatory ORDER BY metric, signatory",
        {"pool": "p", "first": "2026-03-01", "last": "2026-03-31"})


def test_stock_totals_takes_each_items_latest_snapshot_before_the_instant():
    assert queries.stock_totals("m", "p", T0) == (
        "SELECT signatory, sum(records), sum(raw_bytes), sum(bytes), max(records) FROM ("
        " SELECT item, argMax(signatory, k) AS signatory, argMax(records, k) AS records,"
        " argMax(raw_bytes, k) AS raw_bytes, argMax(bytes, k) AS bytes"
        " FROM (SELECT item, signatory, records, raw_bytes, bytes,"
        " bitShiftLeft(toUInt128(toUnixTimestamp64Micro(time)), 64) + toUnixTimestamp64Micro(received) AS k"
        " FROM m.stock_snapshots WHERE pool = {pool:String} AND time < {before:DateTime64(6, 'UTC')})"
        " GROUP BY item) GROUP BY signatory ORDER BY signatory",
        {"pool": "p", "before": "2026-04-01 10:30:00.000000"})


def test_counts():
    assert queries.event_count("m", "p") == ("SELECT count() FROM m.events WHERE pool = {pool:String}", {"pool": "p"})
    assert queries.history_count("m", "p") == (
        "SELECT (SELECT count() FROM m.events WHERE pool = {pool:String})"
        " + (SELECT count() FROM m.signatory_changes WHERE pool = {pool:String})",
        {"pool": "p"})


def test_signatory_reads():
    assert queries.signatory_history("m", "p", "s1") == (
        "SELECT at, action, changed_by, record FROM m.signatory_changes"
        " WHERE pool = {pool:String} AND id = {id:String} ORDER BY at",
        {"pool": "p", "id": "s1"})
    assert queries.latest_signatories("m", "p") == (
        "SELECT id, argMax(record, at) FROM m.signatory_changes"
        " WHERE pool = {pool:String} GROUP BY id ORDER BY id",
        {"pool": "p"})


def test_latest_snapshots():
    assert queries.latest_snapshots("m", "p") == (
        "SELECT item, argMax(signatory, (time, received)), argMax(records, (time, received)),"
        " argMax(raw_bytes, (time, received)), argMax(bytes, (time, received)),"
        " toUnixTimestamp64Milli(max(time))"
        " FROM m.stock_snapshots WHERE pool = {pool:String} GROUP BY item ORDER BY item",
        {"pool": "p"})


def test_flow_by_signatory():
    assert queries.flow_by_signatory("m", "p", "api_calls", *MARCH) == (
        "SELECT signatory, sum(value) FROM m.usage_daily WHERE pool = {pool:String}"
        " AND metric = {metric:String} AND day BETWEEN {first:Date} AND {last:Date}"
        " GROUP BY signatory ORDER BY signatory",
        {"pool": "p", "metric": "api_calls", "first": "2026-03-01", "last": "2026-03-31"})


def test_demand_history_by_month_buckets_usage_and_denials_alike():
    assert queries.demand_history("m", "p", "api_calls", "month", date(2026, 1, 1), date(2026, 4, 1)) == (
        "SELECT signatory, bucket, sum(v) FROM ("
        " SELECT signatory, toStartOfMonth(day) AS bucket, sum(value) AS v FROM m.usage_daily"
        " WHERE pool = {pool:String} AND metric = {metric:String} AND day >= {first:Date} AND day < {end:Date}"
        " GROUP BY signatory, bucket"
        " UNION ALL"
        " SELECT signatory, toStartOfMonth(toDate(minute, {tz:String})) AS bucket, sum(denials) AS v FROM m.denials"
        " WHERE pool = {pool:String} AND metric = {metric:String}"
        " AND toDate(minute, {tz:String}) >= {first:Date} AND toDate(minute, {tz:String}) < {end:Date}"
        " GROUP BY signatory, bucket"
        ") GROUP BY signatory, bucket ORDER BY signatory, bucket",
        {"pool": "p", "metric": "api_calls", "first": "2026-01-01", "end": "2026-04-01", "tz": "Europe/Paris"})


def test_demand_history_by_day_in_the_pools_zone():
    sql, params = queries.demand_history("m", "p", "update_bytes", "day", date(2026, 3, 1), date(2026, 3, 29), "UTC")
    assert sql == (
        "SELECT signatory, bucket, sum(v) FROM ("
        " SELECT signatory, day AS bucket, sum(value) AS v FROM m.usage_daily"
        " WHERE pool = {pool:String} AND metric = {metric:String} AND day >= {first:Date} AND day < {end:Date}"
        " GROUP BY signatory, bucket"
        " UNION ALL"
        " SELECT signatory, toDate(minute, {tz:String}) AS bucket, sum(denials) AS v FROM m.denials"
        " WHERE pool = {pool:String} AND metric = {metric:String}"
        " AND toDate(minute, {tz:String}) >= {first:Date} AND toDate(minute, {tz:String}) < {end:Date}"
        " GROUP BY signatory, bucket"
        ") GROUP BY signatory, bucket ORDER BY signatory, bucket")
    assert params == {"pool": "p", "metric": "update_bytes", "first": "2026-03-01", "end": "2026-03-29", "tz": "UTC"}


def test_latest_allocation():
    assert queries.latest_allocation("m", "p", "2026-03") == (
        "SELECT policy, toString(computed_at), allotments, inputs, explanation_en, explanation_fr"
        " FROM m.allocations WHERE pool = {pool:String} AND period = {period:String}"
        " ORDER BY computed_at DESC LIMIT 1",
        {"pool": "p", "period": "2026-03"})


def test_received_between():
    assert queries.received_between("m", "p", T0, datetime(2026, 4, 2, tzinfo=UTC)) == (
        "SELECT source, id, check_id, check_keys, toUnixTimestamp64Milli(received), dedup_ns"
        " FROM m.events WHERE pool = {pool:String}"
        " AND received >= {start:DateTime64(6, 'UTC')} AND received < {end:DateTime64(6, 'UTC')}",
        {"pool": "p", "start": "2026-04-01 10:30:00.000000", "end": "2026-04-02 00:00:00.000000"})


def test_a_hostile_value_stays_a_parameter():
    sql, params = queries.signatory_history("m", "p", "x' OR 1=1 --")
    assert "OR 1=1" not in sql and params["id"] == "x' OR 1=1 --"
