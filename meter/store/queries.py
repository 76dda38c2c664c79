"""SQL, in one place: small builders returning (sql, params). Values always go in params.

``db`` is the database name from the settings (an identifier checked at start-up), the only
thing formatted into the text.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from meter.store.rows import ch_time

Query = tuple[str, dict[str, Any]]


# "the latest by (time, received)" as one number, (time << 64) + received in microseconds: the same
# order as the tuple, and argMax on it costs a fifth of argMax on a tuple (a year of snapshots:
# 20 ms of CPU instead of 110 per stock read)
LATEST = "bitShiftLeft(toUInt128(toUnixTimestamp64Micro(time)), 64) + toUnixTimestamp64Micro(received)"


def flow_totals(db: str, pool: str, first_day: date, last_day: date) -> Query:
    """Flows summed per metric and signatory over local days [first_day, last_day]."""
    sql = (f"SELECT metric, signatory, sum(value) FROM {db}.usage_daily "
           "WHERE pool = {pool:String} AND day BETWEEN {first:Date} AND {last:Date} "
           "GROUP BY metric, signatory ORDER BY metric, signatory")
    return sql, {"pool": pool, "first": first_day.isoformat(), "last": last_day.isoformat()}


def stock_totals(db: str, pool: str, before: datetime) -> Query:
    """Per signatory: records, raw_bytes, content bytes and its largest dataset, as of ``before``.

    Per item the snapshot in force is the latest by (time, received); a later arrival wins a tie,
    as it does in the Redis ledger.
    """
    sql = (
        "SELECT signatory, sum(records), sum(raw_bytes), sum(bytes), max(records) FROM ("
        " SELECT item, argMax(signatory, k) AS signatory, argMax(records, k) AS records,"
        " argMax(raw_bytes, k) AS raw_bytes, argMax(bytes, k) AS bytes"
        f" FROM (SELECT item, signatory, records, raw_bytes, bytes, {LATEST} AS k FROM {db}.stock_snapshots"
        " WHERE pool = {pool:String} AND time < {before:DateTime64(6, 'UTC')})"
        " GROUP BY item) GROUP BY signatory ORDER BY signatory")
    return sql, {"pool": pool, "before": ch_time(before)}


def event_count(db: str, pool: str) -> Query:
    return f"SELECT count() FROM {db}.events WHERE pool = {{pool:String}}", {"pool": pool}


def history_count(db: str, pool: str) -> Query:
    """Events and signatory changes of the pool: none means a new pool, not a lost ledger."""
    sql = (f"SELECT (SELECT count() FROM {db}.events WHERE pool = {{pool:String}})"
           f" + (SELECT count() FROM {db}.signatory_changes WHERE pool = {{pool:String}})")
    return sql, {"pool": pool}


def signatory_history(db: str, pool: str, signatory: str) -> Query:
    sql = (f"SELECT at, action, changed_by, record FROM {db}.signatory_changes "
           "WHERE pool = {pool:String} AND id = {id:String} ORDER BY at")
    return sql, {"pool": pool, "id": signatory}


def latest_signatories(db: str, pool: str) -> Query:
    """The last recorded state of every signatory (rebuilds the Redis registry)."""
    sql = (f"SELECT id, argMax(record, at) FROM {db}.signatory_changes "
           "WHERE pool = {pool:String} GROUP BY id ORDER BY id")
    return sql, {"pool": pool}


def latest_snapshots(db: str, pool: str) -> Query:
    """Per item ('ds:...' or 'obj:...'), the snapshot in force now: rebuilds the Redis stocks."""
    sql = ("SELECT item, argMax(signatory, (time, received)), argMax(records, (time, received)),"
           " argMax(raw_bytes, (time, received)), argMax(bytes, (time, received)),"
           " toUnixTimestamp64Milli(max(time))"
           f" FROM {db}.stock_snapshots WHERE pool = {{pool:String}} GROUP BY item ORDER BY item")
    return sql, {"pool": pool}


def flow_by_signatory(db: str, pool: str, metric: str, first_day: date, last_day: date) -> Query:
    sql = (f"SELECT signatory, sum(value) FROM {db}.usage_daily WHERE pool = {{pool:String}}"
           " AND metric = {metric:String} AND day BETWEEN {first:Date} AND {last:Date}"
           " GROUP BY signatory ORDER BY signatory")
    return sql, {"pool": pool, "metric": metric, "first": first_day.isoformat(), "last": last_day.isoformat()}


def demand_history(db: str, pool: str, metric: str, kind: str, first: date, end: date,
                   tz: str = "Europe/Paris") -> Query:
    """Per signatory and month (or day), usage plus denied requests in [first, end): what was asked."""
    bucket = "toStartOfMonth(day)" if kind == "month" else "day"
    denial_day = "toDate(minute, {tz:String})"
    denial_bucket = f"toStartOfMonth({denial_day})" if kind == "month" else denial_day
    sql = (
        "SELECT signatory, bucket, sum(v) FROM ("
        f" SELECT signatory, {bucket} AS bucket, sum(value) AS v FROM {db}.usage_daily"
        " WHERE pool = {pool:String} AND metric = {metric:String} AND day >= {first:Date} AND day < {end:Date}"
        " GROUP BY signatory, bucket"
        " UNION ALL"
        f" SELECT signatory, {denial_bucket} AS bucket, sum(denials) AS v FROM {db}.denials"
        " WHERE pool = {pool:String} AND metric = {metric:String}"
        f" AND {denial_day} >= {{first:Date}} AND {denial_day} < {{end:Date}}"
        " GROUP BY signatory, bucket"
        ") GROUP BY signatory, bucket ORDER BY signatory, bucket")
    return sql, {"pool": pool, "metric": metric, "first": first.isoformat(), "end": end.isoformat(), "tz": tz}


def latest_allocation(db: str, pool: str, period: str) -> Query:
    sql = (f"SELECT policy, toString(computed_at), allotments, inputs, explanation_en, explanation_fr"
           f" FROM {db}.allocations WHERE pool = {{pool:String}} AND period = {{period:String}}"
           " ORDER BY computed_at DESC LIMIT 1")
    return sql, {"pool": pool, "period": period}


def received_between(db: str, pool: str, start: datetime, end: datetime) -> Query:
    """What identifies the events received in [start, end): rebuilds the dedup keys of that time.

    Read a slice of the window at a time, so a rebuild never holds a month of ids in memory.
    """
    sql = ("SELECT source, id, check_id, check_keys, toUnixTimestamp64Milli(received), dedup_ns"
           f" FROM {db}.events WHERE pool = {{pool:String}}"
           " AND received >= {start:DateTime64(6, 'UTC')} AND received < {end:DateTime64(6, 'UTC')}")
    return sql, {"pool": pool, "start": ch_time(start), "end": ch_time(end)}


# --- caps in force (dashboards): kept apart so the builders above can change freely ---

def latest_caps(db: str, pool: str) -> Query:
    """The last recorded cap of each metric: the service records new ones when they differ."""
    sql = (f"SELECT metric, argMax(cap, effective_at) FROM {db}.caps WHERE pool = {{pool:String}}"
           " GROUP BY metric ORDER BY metric")
    return sql, {"pool": pool}

# --- monthly reports (meter/reports): a handful of queries serve every partner's report of a month ---

def daily_flows(db: str, pool: str, first_day: date, last_day: date) -> Query:
    """Flows per metric, local day and signatory over [first_day, last_day] (the rollup only)."""
    sql = (f"SELECT metric, day, signatory, sum(value) FROM {db}.usage_daily "
           "WHERE pool = {pool:String} AND day BETWEEN {first:Date} AND {last:Date} "
           "GROUP BY metric, day, signatory ORDER BY metric, day, signatory")
    return sql, {"pool": pool, "first": first_day.isoformat(), "last": last_day.isoformat()}


def top_datasets_by_calls(db: str, pool: str, first_day: date, last_day: date, top: int) -> Query:
    """Per signatory, its ``top`` datasets by API calls over the local days (raw events: the rollup
    has no dataset; the partition key keeps the scan to the month)."""
    sql = (f"SELECT signatory, dataset, sum(amount) AS calls FROM {db}.events "
           "WHERE pool = {pool:String} AND type = 'api.call' AND day BETWEEN {first:Date} AND {last:Date} "
           "AND dataset != '' GROUP BY signatory, dataset "
           "ORDER BY signatory, calls DESC, dataset LIMIT {top:UInt32} BY signatory")
    return sql, {"pool": pool, "first": first_day.isoformat(), "last": last_day.isoformat(), "top": top}


def dataset_records_at(db: str, pool: str, before: datetime) -> Query:
    """Every dataset's signatory and records as of ``before`` (the latest snapshot of each)."""
    sql = ("SELECT signatory, dataset, records FROM ("
           " SELECT substring(item, 4) AS dataset, argMax(signatory, k) AS signatory, argMax(records, k) AS records"
           f" FROM (SELECT item, signatory, records, {LATEST} AS k FROM {db}.stock_snapshots"
           " WHERE pool = {pool:String} AND startsWith(item, 'ds:') AND time < {before:DateTime64(6, 'UTC')})"
           " GROUP BY item)"
           " WHERE records > 0 ORDER BY signatory, records DESC, dataset")
    return sql, {"pool": pool, "before": ch_time(before)}


def denials_between(db: str, pool: str, start: datetime, end: datetime) -> Query:
    """Denied requests per signatory, metric and scope in [start, end)."""
    sql = (f"SELECT signatory, metric, scope, sum(denials) FROM {db}.denials "
           "WHERE pool = {pool:String} AND minute >= {start:DateTime('UTC')} AND minute < {end:DateTime('UTC')} "
           "GROUP BY signatory, metric, scope ORDER BY signatory, metric, scope")
    return sql, {"pool": pool, "start": start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                 "end": end.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")}


def allocations_of_month(db: str, pool: str, month: str) -> Query:
    """The latest stored allotments (JSON) and explanations of a month and of each of its days."""
    sql = (f"SELECT period, argMax(policy, computed_at), argMax(allotments, computed_at),"
           " argMax(explanation_en, computed_at), argMax(explanation_fr, computed_at)"
           f" FROM {db}.allocations WHERE pool = {{pool:String}} AND startsWith(period, {{month:String}})"
           " GROUP BY period ORDER BY period")
    return sql, {"pool": pool, "month": month}


def latest_metadata(db: str, pool: str, signatory: str | None = None) -> Query:
    """Per dataset not deleted, its latest metadata (DESIGN §12): dataset, signatory, metas (JSON),
    last_update; one signatory's only when given. The latest row by (time, received) is the
    dataset's state: a dataset.deleted row (deleted = 1) drops it."""
    sql = (
        "SELECT dataset, signatory, metas, last_update FROM ("
        " SELECT dataset, argMax(deleted, (time, received)) AS gone, argMax(signatory, (time, received)) AS signatory,"
        " argMax(metas, (time, received)) AS metas, argMax(last_update, (time, received)) AS last_update"
        f" FROM {db}.dataset_metadata WHERE pool = {{pool:String}} GROUP BY dataset)"
        " WHERE gone = 0" + (" AND signatory = {signatory:String}" if signatory is not None else "")
        + " ORDER BY signatory, dataset")
    params: dict[str, Any] = {"pool": pool}
    if signatory is not None:
        params["signatory"] = signatory
    return sql, params
