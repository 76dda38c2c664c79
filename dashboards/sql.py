"""The panels' ClickHouse SQL, as the plugin receives it: macros and template variables unexpanded.

Tables are named without a database (the data source's default database is the meter's). No pool,
cap or allotment is written here: the pool is ``${pool}``, caps come from the ``caps`` table and
allotments from ``allocations``. Flows read the ``usage_daily`` rollup, stocks ``stock_snapshots``,
denials their per-minute table, API calls per dataset ``api_calls_by_dataset``: never the raw events.
"""
from __future__ import annotations

from meter.compliance.fields import FIELD_NAMES, LABELS_FR

POOL = "pool = ${pool:sqlstring}"
SIG = "${signatory:sqlstring}"
TODAY = "toDate($__toTime, '${timezone}')"
FROM_DAY = "toDate($__fromTime, '${timezone}')"


def cap(metric: str) -> str:
    """The cap of ``metric`` in force at the end of the range, as a scalar subquery."""
    return (f"(SELECT argMax(cap, effective_at) FROM caps WHERE {POOL} AND metric = '{metric}'"
            " AND effective_at <= $__toTime)")


# Which snapshot of an item is in force: the latest by time, then by arrival (as in the ledger).
# One scalar key (time and arrival in microseconds, side by side): argMax on a tuple key is ~8x
# slower in ClickHouse (measured in bench/dashboards.py).
LATEST = "bitShiftLeft(toUInt128(toUnixTimestamp64Micro(time)), 64) + toUnixTimestamp64Micro(received)"


def _items(having: str = "") -> str:
    """Per stock item, the snapshot in force at the end of the range, and its owner."""
    return ("SELECT item, argMax(signatory, k) AS owner, argMax(records, k) AS records,"
            " argMax(raw_bytes, k) AS raw_bytes, argMax(bytes, k) AS bytes"
            f" FROM (SELECT *, {LATEST} AS k FROM stock_snapshots WHERE {POOL} AND time <= $__toTime)"
            f" GROUP BY item{having}")


def _stocks_used(having: str = "") -> str:
    """(metric, used) of every stock, from one pass over the items in force."""
    return ("SELECT kv.1 AS metric, kv.2 AS used FROM ("
            " SELECT arrayJoin([('records', sum(records)), ('raw_bytes', sum(raw_bytes)),"
            " ('content_bytes', sum(bytes)), ('dataset_records', max(records))]) AS kv"
            f" FROM ({_items(having)}))")


CAPS_USED_NOW = f"""
WITH {TODAY} AS today,
caps_now AS (SELECT metric, argMax(cap, effective_at) AS cap FROM caps
             WHERE {POOL} AND effective_at <= $__toTime GROUP BY metric),
flows AS (SELECT metric, sum(value) AS used FROM usage_daily
          WHERE {POOL} AND ((metric = 'api_calls' AND day BETWEEN toStartOfMonth(today) AND today)
                OR (metric = 'update_bytes' AND day = today))
          GROUP BY metric),
used AS (SELECT metric, used FROM flows UNION ALL {_stocks_used()})
SELECT c.metric AS metric, u.used AS used, c.cap AS cap,
       if(c.cap = 0, 0, round(100 * u.used / c.cap, 2)) AS percent
FROM caps_now AS c LEFT JOIN used AS u ON u.metric = c.metric
ORDER BY metric
"""

# Days from the first of the range's first month, so "month to date" is right from the range's
# first day; the range is cut after the running sum (WHERE would cut before it).
API_CALLS_PER_DAY = f"""
SELECT toDateTime(day, '${{timezone}}') AS time, calls AS "API calls per day", to_date AS "Month to date",
       pace AS "Pace of the cap", {cap('api_calls')} AS "Monthly cap"
FROM (
    SELECT day, calls,
           sum(calls) OVER (PARTITION BY toStartOfMonth(day) ORDER BY day) AS to_date,
           round({cap('api_calls')} * toDayOfMonth(day) / toDayOfMonth(toLastDayOfMonth(day))) AS pace
    FROM (SELECT day, sum(value) AS calls FROM usage_daily
          WHERE {POOL} AND metric = 'api_calls' AND day BETWEEN toStartOfMonth({FROM_DAY}) AND {TODAY}
          GROUP BY day)
)
WHERE day >= {FROM_DAY}
ORDER BY time
"""

UPDATE_BYTES_PER_DAY = f"""
SELECT toDateTime(day, '${{timezone}}') AS time, sum(value) AS "Update bytes",
       any({cap('update_bytes')}) AS "Daily cap"
FROM usage_daily
WHERE {POOL} AND metric = 'update_bytes' AND $__timeFilter(day)
GROUP BY day ORDER BY time
"""


def stock_over_time(columns: dict[str, str], caps: dict[str, str]) -> str:
    """A stock through time: each snapshot moves its item's value by the difference with the
    item's previous snapshot; those moves, summed per interval and then cumulated from the first
    snapshot, are the stock at each interval's end. ``columns``: label -> snapshot column."""
    lagged = ", ".join(
        f"toInt64({col}) - lagInFrame(toInt64({col}), 1, 0) OVER w AS d_{col}" for col in columns.values())
    sums = ", ".join(f"sum(d_{col}) AS s_{col}" for col in columns.values())
    running = ", ".join(f'sum(s_{col}) OVER (ORDER BY t) AS "{label}"' for label, col in columns.items())
    cap_cols = "".join(f', {cap(metric)} AS "{label}"' for label, metric in caps.items())
    return f"""
SELECT t AS time, {", ".join(f'"{label}"' for label in columns)}{cap_cols}
FROM (
    SELECT t, {running}
    FROM (
        SELECT $__timeInterval(time) AS t, {sums}
        FROM (SELECT time, {lagged} FROM stock_snapshots
              WHERE {POOL} AND time <= $__toTime
              WINDOW w AS (PARTITION BY item ORDER BY time, received))
        GROUP BY t)
)
WHERE t >= toStartOfInterval($__fromTime, INTERVAL $__interval_s second)
ORDER BY time
"""


RECORDS_OVER_TIME = stock_over_time({"Records": "records"}, {"Records cap": "records"})
BYTES_OVER_TIME = stock_over_time({"Raw data": "raw_bytes", "Content": "bytes"},
                                  {"Raw data cap": "raw_bytes", "Content cap": "content_bytes"})

TOP_SIGNATORIES = f"""
SELECT signatory AS "Signatory", sum(value) AS "API calls",
       round(100 * sum(value) / (SELECT sum(value) FROM usage_daily
                                 WHERE {POOL} AND metric = 'api_calls' AND $__timeFilter(day)), 2) AS "Share of the pool"
FROM usage_daily
WHERE {POOL} AND metric = 'api_calls' AND $__timeFilter(day)
GROUP BY signatory ORDER BY "API calls" DESC LIMIT 10
"""


def denials_per_minute(by: str, where: str = "") -> str:
    return f"""
SELECT $__timeInterval(minute) AS time, {by}, sum(denials) * 60 / greatest($__interval_s, 60) AS "Denials per minute"
FROM denials
WHERE {POOL} AND $__timeFilter(minute){where}
GROUP BY time, {by} ORDER BY time
"""


DENIALS_BY_SCOPE = denials_per_minute("scope")

# The explanation of the latest month allocation computed by the end of the range.
EXPLANATION = f"""
SELECT concat('Policy: ', policy, '. ', explanation_en) FROM allocations
WHERE {POOL} AND length(period) = 7 AND computed_at <= $__toTime
ORDER BY period DESC, computed_at DESC LIMIT 1
"""

POOLS = "SELECT DISTINCT pool FROM caps ORDER BY pool"
SIGNATORIES = f"SELECT DISTINCT id FROM signatory_changes WHERE {POOL} ORDER BY id"

# --- one signatory ---

_ALLOTTED = f"""SELECT argMaxIf(allotments, computed_at, period = formatDateTime(today, '%Y-%m')) AS month_doc,
                  argMaxIf(allotments, computed_at, period = toString(today)) AS day_doc
           FROM allocations
           WHERE {POOL} AND period IN (formatDateTime(today, '%Y-%m'), toString(today)) AND computed_at <= $__toTime"""

METRICS_AGAINST_ALLOTMENT = f"""
WITH {TODAY} AS today,
docs AS ({_ALLOTTED}),
allotted AS (SELECT arrayJoin(['api_calls', 'update_bytes', 'records', 'raw_bytes', 'content_bytes']) AS metric,
                    JSONExtractUInt(if(metric = 'update_bytes', day_doc, month_doc), {SIG}, metric) AS allotment
             FROM docs),
flows AS (SELECT metric, sum(value) AS used FROM usage_daily
          WHERE {POOL} AND signatory = {SIG}
                AND ((metric = 'api_calls' AND day BETWEEN toStartOfMonth(today) AND today)
                     OR (metric = 'update_bytes' AND day = today))
          GROUP BY metric),
used AS (SELECT metric, used FROM flows UNION ALL {_stocks_used(f" HAVING owner = {SIG}")})
SELECT a.metric AS metric, u.used AS used, a.allotment AS allotment,
       if(a.allotment = 0, 0, round(100 * u.used / a.allotment, 2)) AS percent
FROM allotted AS a LEFT JOIN used AS u ON u.metric = a.metric
ORDER BY metric
"""


def _allotment_by_period(metric: str, month: bool) -> str:
    length = 7 if month else 10
    return (f"SELECT period, JSONExtractUInt(argMax(allotments, computed_at), {SIG}, '{metric}') AS allotment"
            f" FROM allocations WHERE {POOL} AND length(period) = {length} AND computed_at <= $__toTime"
            " GROUP BY period")


SIGNATORY_API_CALLS = f"""
SELECT toDateTime(d.day, '${{timezone}}') AS time, d.calls AS "API calls per day", d.to_date AS "Month to date",
       a.allotment AS "Monthly allotment"
FROM (
    SELECT day, calls, sum(calls) OVER (PARTITION BY toStartOfMonth(day) ORDER BY day) AS to_date
    FROM (SELECT day, sum(value) AS calls FROM usage_daily
          WHERE {POOL} AND metric = 'api_calls' AND signatory = {SIG}
                AND day BETWEEN toStartOfMonth({FROM_DAY}) AND {TODAY}
          GROUP BY day)
) AS d
LEFT JOIN ({_allotment_by_period('api_calls', True)}) AS a ON a.period = formatDateTime(d.day, '%Y-%m')
WHERE d.day >= {FROM_DAY}
ORDER BY time
"""

SIGNATORY_UPDATE_BYTES = f"""
SELECT toDateTime(d.day, '${{timezone}}') AS time, d.bytes AS "Update bytes", a.allotment AS "Daily allotment"
FROM (SELECT day, sum(value) AS bytes FROM usage_daily
      WHERE {POOL} AND metric = 'update_bytes' AND signatory = {SIG} AND $__timeFilter(day)
      GROUP BY day) AS d
LEFT JOIN ({_allotment_by_period('update_bytes', False)}) AS a ON a.period = toString(d.day)
ORDER BY time
"""

SIGNATORY_DATASET_CALLS = f"""
SELECT dataset AS "Dataset", sum(calls) AS "API calls"
FROM api_calls_by_dataset
WHERE {POOL} AND signatory = {SIG} AND $__timeFilter(day)
GROUP BY dataset ORDER BY "API calls" DESC LIMIT 20
"""

SIGNATORY_DATASETS = f"""
SELECT substring(item, 4) AS "Dataset", records AS "Records", raw_bytes AS "Raw data",
       round(100 * records / greatest({cap('dataset_records')}, 1), 2) AS "Of the per-dataset cap"
FROM ({_items(f" HAVING owner = {SIG} AND startsWith(item, 'ds:')")})
WHERE records > 0
ORDER BY "Records" DESC LIMIT 20
"""

SIGNATORY_DENIALS = denials_per_minute("concat(metric, ' / ', scope) AS constraint", f" AND signatory = {SIG}")

# --- catalogue compliance (DESIGN §12): dataset_metadata, latest row per dataset by the range's end ---

# the checks' field names as the partners read them (Titre, Descriptif, ...): one list, the checks'
_NAMES = "[" + ", ".join(f"'{name}'" for name in FIELD_NAMES) + "]"
_LABELS = "[" + ", ".join("'" + LABELS_FR[name].replace("'", "\\'") + "'" for name in FIELD_NAMES) + "]"


def _labels(column: str) -> str:
    return f"arrayStringConcat(arrayMap(f -> transform(f, {_NAMES}, {_LABELS}, f), {column}), ', ')"


_METADATA = f"""SELECT dataset, argMax(signatory, k) AS owner, argMax(deleted, k) AS gone, argMax(title, k) AS title,
       argMax(missing, k) AS missing, argMax(invalid, k) AS invalid, argMax(frequency, k) AS frequency,
       argMax(max_age_days, k) AS max_age_days, argMax(last_update, k) AS last_update
FROM (SELECT *, {LATEST} AS k FROM dataset_metadata WHERE {POOL} AND time <= $__toTime)
GROUP BY dataset"""
# late (article 2.2): the range's end is past last_update plus its frequency's maximum age (0: never late)
_DUE = "if(max_age_days > 0 AND last_update IS NOT NULL, last_update + toIntervalDay(max_age_days), NULL)"

SIGNATORY_COMPLIANCE = f"""
SELECT dataset AS "Dataset", title AS "Title", {_labels('missing')} AS "Missing", {_labels('invalid')} AS "Invalid",
       frequency AS "Frequency", last_update AS "Last update", {_DUE} AS "Due",
       if({_DUE} < $__toTime, 'late', '') AS "Late"
FROM ({_METADATA})
WHERE gone = 0 AND owner = {SIG}
ORDER BY "Late" DESC, length(missing) + length(invalid) DESC, dataset
"""

COMPLETE_SHARE = f"""
SELECT owner AS "Signatory", count() AS "Datasets", countIf(empty(missing) AND empty(invalid)) AS "Complete",
       countIf({_DUE} < $__toTime) AS "Late", round(100 * "Complete" / count(), 1) AS "Complete share"
FROM ({_METADATA})
WHERE gone = 0
GROUP BY owner ORDER BY "Complete share", owner
"""
